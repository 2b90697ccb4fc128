;; clock.wat: imports the wall clock; allows if it reads after 2001, else
;; blocks.
(module
  (import "portcullis" "now" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 64) "\01\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 80) "\01\01\00\00\00\00\00\00\00\00\00\00")
  (func (export "portcullis_request_guard") (param i32 i32) (result i64)
    (if (result i64) (i64.gt_s (call $now) (i64.const 1000000000000000000))
      (then (i64.const 0x400000000c))
      (else (i64.const 0x500000000c)))))
