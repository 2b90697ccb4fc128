;; hooksmask.wat: exports every hook but reports only the request guard as
;; implemented through portcullis_hooks.
(module
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "portcullis_hooks") (result i32) (i32.const 2))
  (func (export "portcullis_request_guard") (param i32 i32) (result i64) (i64.const 0))
  (func (export "portcullis_response_guard") (param i32 i32) (result i64) (i64.const 0)))
