;; badsig.wat: the request guard has the wrong signature.
(module
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "portcullis_request_guard") (param i32) (result i32) (i32.const 0)))
