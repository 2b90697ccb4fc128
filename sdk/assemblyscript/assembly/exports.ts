// The ABI entry points (abi/ABI.md §2-3). AssemblyScript exports only what
// the entry file exports, so a plugin's entry file re-exports these:
//
//   export * from "@portcullis/sdk/exports";
export {
  portcullis_abi_v1,
  portcullis_alloc,
  portcullis_hooks,
  portcullis_request_guard,
  portcullis_response_guard,
  portcullis_tool_filter,
  portcullis_route,
  portcullis_audit,
} from "./index";
