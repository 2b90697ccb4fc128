;; abi2.wat: declares ABI version 2, which this host does not speak.
(module
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v2"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "portcullis_request_guard") (param i32 i32) (result i64) (i64.const 0)))
