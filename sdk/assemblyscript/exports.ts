// `export * from "@portcullis/sdk/exports"` in a plugin's entry file exports the ABI entry points.
export * from "./assembly/exports";
