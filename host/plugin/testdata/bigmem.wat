;; bigmem.wat: asks for 300 pages of initial memory.
(module
  (memory (export "memory") 300)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "portcullis_request_guard") (param i32 i32) (result i64) (i64.const 0)))
