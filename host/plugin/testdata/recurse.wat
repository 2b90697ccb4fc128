;; recurse.wat: exponential recursion without any loop; only the checks at
;; function entry can stop it.
(module
  (memory (export "memory") 1)
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param i32) (result i32) (i32.const 1024))
  (func $fib (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "fib") (param i64) (result i64) (call $fib (local.get 0)))
  (func (export "portcullis_request_guard") (param i32 i32) (result i64)
    (drop (call $fib (i64.const 90))) (i64.const 0)))
