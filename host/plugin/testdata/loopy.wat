;; loopy.wat: loop-heavy guards for the CPU-limit benchmark. Both hash the
;; frame 16 times and allow. The request guard is one tight loop; the
;; response guard calls a helper per byte, as compiled Go code does.
(module
  (memory (export "memory") 1)
  (global $sink (mut i32) (i32.const 0))
  (data (i32.const 64) "\01\00\00\00\00\00\00\00\00\00\00\00")
  (func (export "portcullis_abi_v1"))
  (func (export "portcullis_alloc") (param $n i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (local.get $n) (i32.const 131071)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
        (then (return (i32.const 0))))))
    (i32.const 65536))
  ;; frame start and length from the input header
  (func $frame (param $in i32) (result i32)
    (i32.add (i32.add (local.get $in) (i32.const 32))
      (i32.add
        (i32.add (i32.add (i32.load offset=4 (local.get $in)) (i32.load offset=8 (local.get $in)))
                 (i32.add (i32.load offset=12 (local.get $in)) (i32.load offset=16 (local.get $in))))
        (i32.load offset=20 (local.get $in)))))
  (func $mix (param $h i32) (param $c i32) (result i32)
    (i32.add (i32.mul (local.get $h) (i32.const 31)) (local.get $c)))
  (func (export "portcullis_request_guard") (param $in i32) (param i32) (result i64)
    (local $p i32) (local $n i32) (local $i i32) (local $h i32) (local $r i32)
    (local.set $p (call $frame (local.get $in)))
    (local.set $n (i32.load offset=24 (local.get $in)))
    (loop $round
      (local.set $i (i32.const 0))
      (loop $byte
        (local.set $h (i32.add (i32.mul (local.get $h) (i32.const 31))
          (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $byte (i32.lt_u (local.get $i) (local.get $n))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $round (i32.lt_u (local.get $r) (i32.const 16))))
    (global.set $sink (local.get $h))
    (i64.const 0x400000000c))
  (func (export "portcullis_response_guard") (param $in i32) (param i32) (result i64)
    (local $p i32) (local $n i32) (local $i i32) (local $h i32) (local $r i32)
    (local.set $p (call $frame (local.get $in)))
    (local.set $n (i32.load offset=24 (local.get $in)))
    (loop $round
      (local.set $i (i32.const 0))
      (loop $byte
        (local.set $h (call $mix (local.get $h)
          (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $byte (i32.lt_u (local.get $i) (local.get $n))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $round (i32.lt_u (local.get $r) (i32.const 16))))
    (global.set $sink (local.get $h))
    (i64.const 0x400000000c))
)
