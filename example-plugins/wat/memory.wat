;; A core module plugin that uses its memory: the host writes and reads it,
;; and the plugin asks for more pages with `grow`, which returns the old size
;; in pages, or -1 when the host refuses.
(module
  (memory (export "memory") 1)
  (func (export "load") (param $address i32) (result i32)
    (i32.load8_u (local.get $address)))
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))
  (func (export "pages") (result i32)
    (memory.size)))
