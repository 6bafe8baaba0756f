;; A core module plugin in WAT: the math plugin of the MoFA runtime's
;; example. witplug loads `.wat` files as they are; `witplug call math add 10 20`.
(module
  (import "witplug" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "math ready")

  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))
  (func (export "sub") (param $a i32) (param $b i32) (result i32)
    (i32.sub (local.get $a) (local.get $b)))
  (func (export "mul") (param $a i32) (param $b i32) (result i32)
    (i32.mul (local.get $a) (local.get $b)))

  (func $factorial (export "factorial") (param $n i64) (result i64)
    (if (result i64) (i64.le_u (local.get $n) (i64.const 1))
      (then (i64.const 1))
      (else (i64.mul (local.get $n) (call $factorial (i64.sub (local.get $n) (i64.const 1)))))))

  (func (export "fibonacci") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $next i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $step
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $next (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $next))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $step)))
    (local.get $a))

  ;; Logs through the host's core ABI: level 2 is info.
  (func (export "hello")
    (call $log (i32.const 2) (i32.const 0) (i32.const 10))))
