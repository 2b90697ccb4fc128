// Preloaded (node --require) into the servers the e2e tests start over HTTP: a server that
// listens on a bare port binds to 127.0.0.1 instead of every interface, so the tests stay on
// loopback. server-everything has no option for its listen address.
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const barePort = typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]));
  if (barePort && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
