// Package entry: `import { onRequest, block } from "@portcullis/sdk"`.
export * from "./assembly/index";
