;; script.wat: a native guest whose behaviour the test chooses through the
;; binding config, a JSON string. "<hex>" returns the decoded bytes as the
;; verdict (so tests can send any verdict, valid or not); a leading capital
;; letter picks a misbehaviour:
;;   "T" trap, "S" spin forever, "G" grow memory until refused then trap,
;;   "O" return a pointer out of bounds, "N" return 0 (guest failure),
;;   "L" log then allow, "F" log 100 lines then allow, "E" emit then allow.
(module
  (import "portcullis" "log" (func $log (param i32 i32 i32)))
  (import "portcullis" "emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "hello from guest")
  (data (i32.const 48) "counter")
  (data (i32.const 64) "\01\00\00\00\00\00\00\00\00\00\00\00")

  (func (export "portcullis_abi_v1"))

  ;; One host-owned input buffer at 64 KiB, grown to fit.
  (func (export "portcullis_alloc") (param $n i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (local.get $n) (i32.const 131071)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
        (then (return (i32.const 0))))))
    (i32.const 65536))

  (func $allow (result i64) (i64.const 0x400000000c)) ;; 64<<32 | 12

  (func $run (param $in i32) (result i64)
    (local $cfg i32) (local $n i32) (local $c i32) (local $i i32)
    (local.set $cfg (i32.add (i32.add (local.get $in) (i32.const 32))
      (i32.add
        (i32.add (i32.load offset=4 (local.get $in)) (i32.load offset=8 (local.get $in)))
        (i32.add (i32.load offset=12 (local.get $in)) (i32.load offset=16 (local.get $in))))))
    (local.set $n (i32.load offset=20 (local.get $in)))
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (call $allow))))
    (local.set $c (i32.load8_u offset=1 (local.get $cfg)))
    (if (i32.eq (local.get $c) (i32.const 84)) (then unreachable))             ;; T
    (if (i32.eq (local.get $c) (i32.const 83)) (then (loop $spin (br $spin)))) ;; S
    (if (i32.eq (local.get $c) (i32.const 71)) (then                           ;; G
      (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable))
    (if (i32.eq (local.get $c) (i32.const 79)) (then (return (i64.const 0xfffffff000000040)))) ;; O
    (if (i32.eq (local.get $c) (i32.const 78)) (then (return (i64.const 0))))  ;; N
    (if (i32.eq (local.get $c) (i32.const 76)) (then                           ;; L
      (call $log (i32.const 1) (i32.const 16) (i32.const 16))
      (return (call $allow))))
    (if (i32.eq (local.get $c) (i32.const 70)) (then                           ;; F
      (loop $flood
        (call $log (i32.const 2) (i32.const 16) (i32.const 16))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $flood (i32.lt_u (local.get $i) (i32.const 100))))
      (return (call $allow))))
    (if (i32.eq (local.get $c) (i32.const 69)) (then                           ;; E
      (call $emit (i32.const 48) (i32.const 7) (i32.const 16) (i32.const 16))
      (return (call $allow))))
    ;; Hex: decode config[1 .. n-1) into 4096.
    (local.set $n (i32.shr_u (i32.sub (local.get $n) (i32.const 2)) (i32.const 1)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $hex
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 offset=4096 (local.get $i)
          (i32.or
            (i32.shl (call $nibble (i32.load8_u offset=1
              (i32.add (local.get $cfg) (i32.shl (local.get $i) (i32.const 1))))) (i32.const 4))
            (call $nibble (i32.load8_u offset=2
              (i32.add (local.get $cfg) (i32.shl (local.get $i) (i32.const 1)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $hex)))
    (i64.or (i64.const 0x100000000000) (i64.extend_i32_u (local.get $n)))) ;; 4096<<32 | n

  (func $nibble (param $c i32) (result i32)
    (if (result i32) (i32.le_u (local.get $c) (i32.const 57))
      (then (i32.sub (local.get $c) (i32.const 48)))
      (else (i32.sub (local.get $c) (i32.const 87)))))

  (func (export "portcullis_request_guard") (param i32 i32) (result i64) (call $run (local.get 0)))
  (func (export "portcullis_response_guard") (param i32 i32) (result i64) (call $run (local.get 0)))
  (func (export "portcullis_tool_filter") (param i32 i32) (result i64) (call $run (local.get 0)))
  (func (export "portcullis_route") (param i32 i32) (result i64) (call $run (local.get 0)))
  (func (export "portcullis_audit") (param i32 i32) (result i64) (call $run (local.get 0)))
)
