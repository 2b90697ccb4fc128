;; badimport.wat: imports a function the host does not grant.
(module
  (import "env" "open_socket" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "portcullis_request_guard") (param i32 i32) (result i64) (i64.const 0)))
