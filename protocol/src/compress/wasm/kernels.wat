;; Masha's WebAssembly SIMD kernels for the per-element compressors (natural compression, natural
;; dithering, 8-bit blockwise) and for packing their codes on the wire. Source of
;; `kernels-bytes.ts`: after editing, run `npm run build:wasm -w @masha/protocol`
;; (`npm run typecheck` fails while the two disagree).
;;
;; The kernels work on one chunk at a time in a fixed 512 KiB memory (it never grows, so views on
;; it stay valid); `simd.ts` copies each chunk in and the codes out, and settles ties.
;;
;; Memory layout (byte offsets):
;;   STATE    0   four v128: word k of the four xoshiro128** lanes in vector k (lane l in lane l)
;;   ACC     64   sumsq: four f64x2 partial sums of squares (elements i mod 8 = 0,1 | 2,3 | 4,5 | 6,7)
;;   FLAG   128   i32, natural/natural64: non-zero once some input was beyond 2^127 (or ±inf, NaN)
;;   MAX    144   sumsq: f64x2 running max|x|
;;   BLOCK 1024   f64 per block of the chunk: int8max writes max|x|, int8 reads the block's multiplier
;;   TIES 16384   i32 chunk-relative indices of ties, in increasing order (the kernels return the count)
;;   IN  147456   the chunk's input: float32 or float64 values, zero-padded to a multiple of 8
;;                (pack: codes; unpack: packed bytes)
;;   OUT 409600   the chunk's codes: u16 (natural), u8 (dither), i8 (int8) (pack: packed bytes)
;;
;; Random bits, the scheme every path of these compressors shares (lanes.ts is its reference):
;; element i takes 16 bits of step ⌊i/8⌋ of four xoshiro128** lanes, lane i mod 4, the top half of
;; the lane's word when i mod 8 < 4 and the bottom half otherwise. A kernel advances the lanes once
;; per group of 8 elements (the last, partial group included), so chunks must start at multiples
;; of 8.
;;
;; Ties (the 16 random bits equal to the top 16 bits of the element's threshold) are recorded
;; and settled by the caller with more bits from its own generator.
(module
  (memory (export "memory") 8 8)

  ;; Appends the elements of group i whose bits are set in m (bit j = element i + j) and that lie
  ;; below n to the tie list; returns the new count.
  (func $record (param $m i32) (param $i i32) (param $n i32) (param $ties i32) (result i32)
    (local $j i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $m)))
        (local.set $j (i32.add (local.get $i) (i32.ctz (local.get $m))))
        (if (i32.lt_u (local.get $j) (local.get $n))
          (then
            (i32.store offset=16384 (i32.shl (local.get $ties) (i32.const 2)) (local.get $j))
            (local.set $ties (i32.add (local.get $ties) (i32.const 1)))))
        (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
        (br $next)))
    (local.get $ties))

  ;; Natural compression of n float32 values (bit patterns at IN) into u16 codes at OUT:
  ;; code = sign·256 + exponent, plus one when the element's 16 random bits are below the top 16
  ;; mantissa bits. FLAG records inputs beyond 2^127. Returns the number of ties.
  (func (export "natural") (param $n i32) (result i32)
    (local $i i32) (local $ties i32) (local $p i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $r v128) (local $t v128)
    (local $a v128) (local $b v128) (local $ra v128) (local $rb v128) (local $ma v128) (local $mb v128)
    (local $bad v128) (local $m i32)
    (local.set $s0 (v128.load offset=0 (i32.const 0)))
    (local.set $s1 (v128.load offset=16 (i32.const 0)))
    (local.set $s2 (v128.load offset=32 (i32.const 0)))
    (local.set $s3 (v128.load offset=48 (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        ;; xoshiro128** step of the four lanes
        (local.set $r (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
        (local.set $r (i32x4.mul
          (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25)))
          (v128.const i32x4 9 9 9 9)))
        (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
        (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
        (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
        (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
        (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))

        (local.set $p (i32.shl (local.get $i) (i32.const 2)))
        (local.set $a (v128.load offset=147456 (local.get $p)))
        (local.set $b (v128.load offset=147472 (local.get $p)))
        (local.set $ra (i32x4.shr_u (local.get $r) (i32.const 16)))
        (local.set $rb (v128.and (local.get $r) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
        (local.set $ma (v128.and (i32x4.shr_u (local.get $a) (i32.const 7)) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
        (local.set $mb (v128.and (i32x4.shr_u (local.get $b) (i32.const 7)) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
        (local.set $bad (v128.or (local.get $bad) (v128.or
          (i32x4.gt_s (v128.and (local.get $a) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                      (v128.const i32x4 0x7f000000 0x7f000000 0x7f000000 0x7f000000))
          (i32x4.gt_s (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                      (v128.const i32x4 0x7f000000 0x7f000000 0x7f000000 0x7f000000)))))
        ;; a comparison is −1 when true: subtracting it adds one (signed comparisons: every operand
        ;; is a non-negative 31-bit number here, and x86 has no unsigned one)
        (v128.store offset=409600 (i32.shl (local.get $i) (i32.const 1))
          (i16x8.narrow_i32x4_u
            (i32x4.sub (i32x4.shr_u (local.get $a) (i32.const 23)) (i32x4.lt_s (local.get $ra) (local.get $ma)))
            (i32x4.sub (i32x4.shr_u (local.get $b) (i32.const 23)) (i32x4.lt_s (local.get $rb) (local.get $mb)))))
        (local.set $m (i32.or
          (i32x4.bitmask (i32x4.eq (local.get $ra) (local.get $ma)))
          (i32.shl (i32x4.bitmask (i32x4.eq (local.get $rb) (local.get $mb))) (i32.const 4))))
        (if (local.get $m)
          (then (local.set $ties (call $record (local.get $m) (local.get $i) (local.get $n) (local.get $ties)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (v128.store offset=0 (i32.const 0) (local.get $s0))
    (v128.store offset=16 (i32.const 0) (local.get $s1))
    (v128.store offset=32 (i32.const 0) (local.get $s2))
    (v128.store offset=48 (i32.const 0) (local.get $s3))
    (if (v128.any_true (local.get $bad)) (then (i32.store offset=128 (i32.const 0) (i32.const 1))))
    (local.get $ties))

  ;; Natural compression of n float64 values at IN into u16 codes at OUT (see natural.ts): with the
  ;; float32-biased exponent e of x, e ≥ 1: code sign·256 + e, up one when the element's 16 random
  ;; bits are below the top 16 mantissa bits; e ≤ 0 (|x| < 2^−126): code sign·256, up one when
  ;; they are below ⌊|x|·2^142⌋ (the top 16 of ⌊|x|·2^126·2^52⌋). FLAG records |x| > 2^127 or NaN.
  ;; Returns the number of ties.
  (func (export "natural64") (param $n i32) (result i32)
    (local $i i32) (local $ties i32) (local $m i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $r v128) (local $t v128)
    (local $ra v128) (local $rb v128) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $hw v128) (local $e v128) (local $pa v128) (local $pb v128) (local $ca v128) (local $cb v128) (local $bad v128)
    (local.set $s0 (v128.load offset=0 (i32.const 0)))
    (local.set $s1 (v128.load offset=16 (i32.const 0)))
    (local.set $s2 (v128.load offset=32 (i32.const 0)))
    (local.set $s3 (v128.load offset=48 (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        ;; xoshiro128** step of the four lanes
        (local.set $r (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
        (local.set $r (i32x4.mul
          (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25)))
          (v128.const i32x4 9 9 9 9)))
        (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
        (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
        (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
        (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
        (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
        (local.set $ra (i32x4.shr_u (local.get $r) (i32.const 16)))
        (local.set $rb (v128.and (local.get $r) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
        (local.set $x0 (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 3))))
        (local.set $x1 (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 3))))
        (local.set $x2 (v128.load offset=147488 (i32.shl (local.get $i) (i32.const 3))))
        (local.set $x3 (v128.load offset=147504 (i32.shl (local.get $i) (i32.const 3))))
        ;; not |x| ≤ 2^127 (NaN included)
        (local.set $bad (v128.or (local.get $bad) (v128.not (v128.and
          (v128.and (f64x2.le (f64x2.abs (local.get $x0)) (v128.const f64x2 0x1p127 0x1p127))
                    (f64x2.le (f64x2.abs (local.get $x1)) (v128.const f64x2 0x1p127 0x1p127)))
          (v128.and (f64x2.le (f64x2.abs (local.get $x2)) (v128.const f64x2 0x1p127 0x1p127))
                    (f64x2.le (f64x2.abs (local.get $x3)) (v128.const f64x2 0x1p127 0x1p127)))))))
        ;; elements i … i+3: high words, exponent, threshold, code
        (local.set $hw (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $x0) (local.get $x1)))
        (local.set $e (i32x4.sub (v128.and (i32x4.shr_u (local.get $hw) (i32.const 20)) (v128.const i32x4 0x7ff 0x7ff 0x7ff 0x7ff))
          (v128.const i32x4 896 896 896 896)))
        (local.set $pa (v128.bitselect
          (v128.and (i32x4.shr_u (local.get $hw) (i32.const 4)) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff))
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
            (f64x2.add (f64x2.floor (f64x2.mul (f64x2.abs (local.get $x0)) (v128.const f64x2 0x1p142 0x1p142))) (v128.const f64x2 0x1p52 0x1p52))
            (f64x2.add (f64x2.floor (f64x2.mul (f64x2.abs (local.get $x1)) (v128.const f64x2 0x1p142 0x1p142))) (v128.const f64x2 0x1p52 0x1p52)))
          (i32x4.gt_s (local.get $e) (v128.const i32x4 0 0 0 0))))
        (local.set $ca (i32x4.sub
          (i32x4.add (i32x4.shl (i32x4.shr_u (local.get $hw) (i32.const 31)) (i32.const 8))
                     (i32x4.max_s (local.get $e) (v128.const i32x4 0 0 0 0)))
          (i32x4.lt_s (local.get $ra) (local.get $pa))))
        ;; elements i+4 … i+7
        (local.set $hw (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $x2) (local.get $x3)))
        (local.set $e (i32x4.sub (v128.and (i32x4.shr_u (local.get $hw) (i32.const 20)) (v128.const i32x4 0x7ff 0x7ff 0x7ff 0x7ff))
          (v128.const i32x4 896 896 896 896)))
        (local.set $pb (v128.bitselect
          (v128.and (i32x4.shr_u (local.get $hw) (i32.const 4)) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff))
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
            (f64x2.add (f64x2.floor (f64x2.mul (f64x2.abs (local.get $x2)) (v128.const f64x2 0x1p142 0x1p142))) (v128.const f64x2 0x1p52 0x1p52))
            (f64x2.add (f64x2.floor (f64x2.mul (f64x2.abs (local.get $x3)) (v128.const f64x2 0x1p142 0x1p142))) (v128.const f64x2 0x1p52 0x1p52)))
          (i32x4.gt_s (local.get $e) (v128.const i32x4 0 0 0 0))))
        (local.set $cb (i32x4.sub
          (i32x4.add (i32x4.shl (i32x4.shr_u (local.get $hw) (i32.const 31)) (i32.const 8))
                     (i32x4.max_s (local.get $e) (v128.const i32x4 0 0 0 0)))
          (i32x4.lt_s (local.get $rb) (local.get $pb))))
        (v128.store offset=409600 (i32.shl (local.get $i) (i32.const 1)) (i16x8.narrow_i32x4_u (local.get $ca) (local.get $cb)))
        (local.set $m (i32.or
          (i32x4.bitmask (i32x4.eq (local.get $ra) (local.get $pa)))
          (i32.shl (i32x4.bitmask (i32x4.eq (local.get $rb) (local.get $pb))) (i32.const 4))))
        (if (local.get $m)
          (then (local.set $ties (call $record (local.get $m) (local.get $i) (local.get $n) (local.get $ties)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (v128.store offset=0 (i32.const 0) (local.get $s0))
    (v128.store offset=16 (i32.const 0) (local.get $s1))
    (v128.store offset=32 (i32.const 0) (local.get $s2))
    (v128.store offset=48 (i32.const 0) (local.get $s3))
    (if (v128.any_true (local.get $bad)) (then (i32.store offset=128 (i32.const 0) (i32.const 1))))
    (local.get $ties))

  ;; Adds the squares of n values at IN (float32 when f64 = 0, float64 otherwise; n a multiple of
  ;; 8, zero-padded) to the partial sums at ACC (element i into partial sum i mod 8: four f64x2
  ;; chains, so that additions overlap) and their magnitudes to the running maximum at ACC + 64
  ;; (pmax: a NaN may be lost, but then the sum is NaN).
  (func (export "sumsq") (param $n i32) (param $f64 i32)
    (local $i i32) (local $v v128) (local $x01 v128) (local $x23 v128) (local $x45 v128) (local $x67 v128)
    (local $acc01 v128) (local $acc23 v128) (local $acc45 v128) (local $acc67 v128) (local $max v128)
    (local.set $acc01 (v128.load offset=64 (i32.const 0)))
    (local.set $acc23 (v128.load offset=80 (i32.const 0)))
    (local.set $acc45 (v128.load offset=96 (i32.const 0)))
    (local.set $acc67 (v128.load offset=112 (i32.const 0)))
    (local.set $max (v128.load offset=144 (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $f64)
          (then
            (local.set $x01 (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x23 (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x45 (v128.load offset=147488 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x67 (v128.load offset=147504 (i32.shl (local.get $i) (i32.const 3)))))
          (else
            (local.set $v (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $x01 (f64x2.promote_low_f32x4 (local.get $v)))
            (local.set $x23 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
            (local.set $v (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $x45 (f64x2.promote_low_f32x4 (local.get $v)))
            (local.set $x67 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))))
        (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.mul (local.get $x01) (local.get $x01))))
        (local.set $acc23 (f64x2.add (local.get $acc23) (f64x2.mul (local.get $x23) (local.get $x23))))
        (local.set $acc45 (f64x2.add (local.get $acc45) (f64x2.mul (local.get $x45) (local.get $x45))))
        (local.set $acc67 (f64x2.add (local.get $acc67) (f64x2.mul (local.get $x67) (local.get $x67))))
        (local.set $max (f64x2.pmax (local.get $max) (f64x2.pmax
          (f64x2.pmax (f64x2.abs (local.get $x01)) (f64x2.abs (local.get $x23)))
          (f64x2.pmax (f64x2.abs (local.get $x45)) (f64x2.abs (local.get $x67))))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (v128.store offset=64 (i32.const 0) (local.get $acc01))
    (v128.store offset=80 (i32.const 0) (local.get $acc23))
    (v128.store offset=96 (i32.const 0) (local.get $acc45))
    (v128.store offset=112 (i32.const 0) (local.get $acc67))
    (v128.store offset=144 (i32.const 0) (local.get $max)))

  ;; Natural dithering with s levels of n values at IN (float32 when f64 = 0, float64 otherwise)
  ;; into u8 codes at OUT. With t = min(|x|·k, 2^(s−1)), k = 2^(s−1)/‖x‖ (t is |x|/‖x‖ in units of
  ;; the smallest non-zero level), t < 1 lies between the levels 0 (index s) and 2^(1−s) and rounds
  ;; up with probability t; t = 2^E(1 + f) lies between 2^(E+1−s) (index s−1−E) and twice that and
  ;; rounds up with probability f. The kernel takes k16 = k·2^16 and works on t16 = t·2^16 (exact):
  ;; the 16-bit threshold P16 is ⌊t16⌋ below 1, else the top 16 bits of t's mantissa. Rounding up
  ;; subtracts one from the index; the sign bit of x sets `signbit`. Returns the number of ties
  ;; (16 random bits = P16).
  (func (export "dither") (param $n i32) (param $f64 i32) (param $k16 f64) (param $s i32) (param $signbit i32) (result i32)
    (local $i i32) (local $ties i32) (local $m i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $r v128) (local $t v128)
    (local $ra v128) (local $rb v128) (local $sa v128) (local $sb v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $kk v128) (local $cap v128) (local $Pa v128) (local $Pb v128) (local $Ja v128) (local $Jb v128)
    (local.set $s0 (v128.load offset=0 (i32.const 0)))
    (local.set $s1 (v128.load offset=16 (i32.const 0)))
    (local.set $s2 (v128.load offset=32 (i32.const 0)))
    (local.set $s3 (v128.load offset=48 (i32.const 0)))
    (local.set $kk (f64x2.splat (local.get $k16)))
    (local.set $cap (f64x2.splat (f64.mul
      (f64.convert_i32_u (i32.shl (i32.const 1) (i32.sub (local.get $s) (i32.const 1))))
      (f64.const 0x1p16))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        ;; xoshiro128** step of the four lanes
        (local.set $r (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
        (local.set $r (i32x4.mul
          (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25)))
          (v128.const i32x4 9 9 9 9)))
        (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
        (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
        (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
        (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
        (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
        (local.set $ra (i32x4.shr_u (local.get $r) (i32.const 16)))
        (local.set $rb (v128.and (local.get $r) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
        ;; elements i … i+7 as four f64x2, and their sign bits as two i32x4 masks
        (if (local.get $f64)
          (then
            (local.set $x0 (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x1 (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x2 (v128.load offset=147488 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x3 (v128.load offset=147504 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $sa (i32x4.lt_s (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
              (local.get $x0) (local.get $x1)) (v128.const i32x4 0 0 0 0)))
            (local.set $sb (i32x4.lt_s (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
              (local.get $x2) (local.get $x3)) (v128.const i32x4 0 0 0 0))))
          (else
            (local.set $sa (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $sb (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $x0 (f64x2.promote_low_f32x4 (local.get $sa)))
            (local.set $x1 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sa) (local.get $sa))))
            (local.set $x2 (f64x2.promote_low_f32x4 (local.get $sb)))
            (local.set $x3 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sb) (local.get $sb))))
            (local.set $sa (i32x4.lt_s (local.get $sa) (v128.const i32x4 0 0 0 0)))
            (local.set $sb (i32x4.lt_s (local.get $sb) (v128.const i32x4 0 0 0 0)))))
        ;; t16 = pmin(|x|·k16, cap16) (pmin: one instruction; nothing here is NaN)
        (local.set $x0 (f64x2.pmin (f64x2.mul (f64x2.abs (local.get $x0)) (local.get $kk)) (local.get $cap)))
        (local.set $x1 (f64x2.pmin (f64x2.mul (f64x2.abs (local.get $x1)) (local.get $kk)) (local.get $cap)))
        (local.set $x2 (f64x2.pmin (f64x2.mul (f64x2.abs (local.get $x2)) (local.get $kk)) (local.get $cap)))
        (local.set $x3 (f64x2.pmin (f64x2.mul (f64x2.abs (local.get $x3)) (local.get $kk)) (local.get $cap)))
        (if (i64x2.all_true (f64x2.lt
              (f64x2.pmax (f64x2.pmax (local.get $x0) (local.get $x1)) (f64x2.pmax (local.get $x2) (local.get $x3)))
              (v128.const f64x2 0x1p16 0x1p16)))
          (then
            ;; every t < 1 (the usual case for a long vector): index s, P16 = ⌊t16⌋, an integer
            ;; below 2^16 moved into the low word by adding 2^52
            (local.set $Ja (i32x4.splat (local.get $s)))
            (local.set $Jb (local.get $Ja))
            (local.set $Pa (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
              (f64x2.add (f64x2.floor (local.get $x0)) (v128.const f64x2 0x1p52 0x1p52))
              (f64x2.add (f64x2.floor (local.get $x1)) (v128.const f64x2 0x1p52 0x1p52))))
            (local.set $Pb (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
              (f64x2.add (f64x2.floor (local.get $x2)) (v128.const f64x2 0x1p52 0x1p52))
              (f64x2.add (f64x2.floor (local.get $x3)) (v128.const f64x2 0x1p52 0x1p52)))))
          (else
            (call $ditherLevels (local.get $x0) (local.get $x1) (local.get $s))
            (local.set $Pa)
            (local.set $Ja)
            (call $ditherLevels (local.get $x2) (local.get $x3) (local.get $s))
            (local.set $Pb)
            (local.set $Jb)))
        ;; a comparison is −1 when true: adding it rounds up
        (local.set $Ja (v128.or
          (i32x4.add (local.get $Ja) (i32x4.lt_s (local.get $ra) (local.get $Pa)))
          (v128.and (local.get $sa) (i32x4.splat (local.get $signbit)))))
        (local.set $Jb (v128.or
          (i32x4.add (local.get $Jb) (i32x4.lt_s (local.get $rb) (local.get $Pb)))
          (v128.and (local.get $sb) (i32x4.splat (local.get $signbit)))))
        (local.set $Ja (i16x8.narrow_i32x4_u (local.get $Ja) (local.get $Jb)))
        (v128.store64_lane offset=409600 0 (local.get $i) (i8x16.narrow_i16x8_u (local.get $Ja) (local.get $Ja)))
        (local.set $m (i32.or
          (i32x4.bitmask (i32x4.eq (local.get $ra) (local.get $Pa)))
          (i32.shl (i32x4.bitmask (i32x4.eq (local.get $rb) (local.get $Pb))) (i32.const 4))))
        (if (local.get $m)
          (then (local.set $ties (call $record (local.get $m) (local.get $i) (local.get $n) (local.get $ties)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (v128.store offset=0 (i32.const 0) (local.get $s0))
    (v128.store offset=16 (i32.const 0) (local.get $s1))
    (v128.store offset=32 (i32.const 0) (local.get $s2))
    (v128.store offset=48 (i32.const 0) (local.get $s3))
    (local.get $ties))

  ;; Index (before rounding up) and P16 of four elements of `dither` from t16 in two f64x2, any t:
  ;; below 1 as in the usual case; else from t16's bits, with E = exponent(t16) − 16 the index is
  ;; s − 1 − E = s + 1038 − (exponent field) and P16 the top 16 mantissa bits.
  (func $ditherLevels (param $t0 v128) (param $t1 v128) (param $s i32) (result v128 v128)
    (local $low v128) (local $hw v128)
    (local.set $low (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
      (f64x2.lt (local.get $t0) (v128.const f64x2 0x1p16 0x1p16))
      (f64x2.lt (local.get $t1) (v128.const f64x2 0x1p16 0x1p16))))
    (local.set $hw (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $t0) (local.get $t1)))
    (v128.bitselect
      (i32x4.splat (local.get $s))
      (i32x4.sub (i32x4.splat (i32.add (local.get $s) (i32.const 1038))) (i32x4.shr_u (local.get $hw) (i32.const 20)))
      (local.get $low))
    (v128.bitselect
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
        (f64x2.add (f64x2.floor (local.get $t0)) (v128.const f64x2 0x1p52 0x1p52))
        (f64x2.add (f64x2.floor (local.get $t1)) (v128.const f64x2 0x1p52 0x1p52)))
      (v128.and (i32x4.shr_u (local.get $hw) (i32.const 4)) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff))
      (local.get $low)))

  ;; max|x| of each block of B values of the n at IN (float32 when f64 = 0, float64 otherwise),
  ;; as f64 at BLOCK, NaN for a block holding a NaN. B is a multiple of 8 and n is zero-padded to a
  ;; multiple of 8. (pmax is one instruction but may drop a NaN: NaNs are caught by x ≠ x.)
  (func (export "int8max") (param $n i32) (param $B i32) (param $f64 i32)
    (local $lo i32) (local $hi i32) (local $i i32) (local $blk i32) (local $v v128) (local $w v128)
    (local $m4 v128) (local $m2 v128) (local $nan v128)
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $lo) (local.get $n)))
        (local.set $hi (i32.add (local.get $lo) (local.get $B)))
        (if (i32.gt_u (local.get $hi) (local.get $n)) (then (local.set $hi (local.get $n))))
        (local.set $m4 (v128.const i32x4 0 0 0 0))
        (local.set $m2 (v128.const i32x4 0 0 0 0))
        (local.set $nan (v128.const i32x4 0 0 0 0))
        (local.set $i (local.get $lo))
        (block $end
          (loop $next
            (br_if $end (i32.ge_u (local.get $i) (local.get $hi)))
            (if (local.get $f64)
              (then
                (local.set $v (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 3))))
                (local.set $w (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 3))))
                (local.set $nan (v128.or (local.get $nan)
                  (v128.or (f64x2.ne (local.get $v) (local.get $v)) (f64x2.ne (local.get $w) (local.get $w)))))
                (local.set $m2 (f64x2.pmax (local.get $m2)
                  (f64x2.pmax (f64x2.abs (local.get $v)) (f64x2.abs (local.get $w))))))
              (else
                (local.set $v (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 2))))
                (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $v) (local.get $v))))
                (local.set $m4 (f32x4.pmax (local.get $m4) (f32x4.abs (local.get $v))))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $next)))
        ;; fold the float32 maxima into the float64 ones (exact), then the two lanes
        (local.set $m2 (f64x2.pmax (local.get $m2) (f64x2.pmax
          (f64x2.promote_low_f32x4 (local.get $m4))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m4) (local.get $m4))))))
        (f64.store offset=1024 (i32.shl (local.get $blk) (i32.const 3))
          (select
            (f64.const nan)
            (f64.max (f64x2.extract_lane 0 (local.get $m2)) (f64x2.extract_lane 1 (local.get $m2)))
            (v128.any_true (local.get $nan))))
        (local.set $blk (i32.add (local.get $blk) (i32.const 1)))
        (local.set $lo (i32.add (local.get $lo) (local.get $B)))
        (br $block)))
    )

  ;; 8-bit codes of the n values at IN (float32 when f64 = 0, float64 otherwise) into i8 at OUT;
  ;; BLOCK holds each block's multiplier (B is a multiple of 8; 0 for a block of zeros).
  ;; Round-to-nearest (stochastic = 0), multiplier inv = 127/scale: c = ⌊x·inv + 128.5⌋ − 128.
  ;; Stochastic, multiplier inv·2^16: with t = x·inv + 128, t16 = x·inv·2^16 + 2^23 = t·2^16
  ;; (exact) and w = ⌊t16⌋, c = ⌊t⌋ − 128 = (w >> 16) − 128, plus one when the element's 16 random
  ;; bits are below F16 = ⌊frac(t)·2^16⌋ = w mod 2^16; clamped to [−127, 127]. Returns the number
  ;; of ties.
  (func (export "int8") (param $n i32) (param $B i32) (param $f64 i32) (param $stochastic i32) (result i32)
    (local $i i32) (local $ties i32) (local $m i32) (local $next i32) (local $blk i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $r v128) (local $t v128)
    (local $ra v128) (local $rb v128) (local $sa v128) (local $sb v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $inv v128) (local $add v128)
    (local $ca v128) (local $cb v128)
    (local.set $s0 (v128.load offset=0 (i32.const 0)))
    (local.set $s1 (v128.load offset=16 (i32.const 0)))
    (local.set $s2 (v128.load offset=32 (i32.const 0)))
    (local.set $s3 (v128.load offset=48 (i32.const 0)))
    (local.set $add (select (v128.const f64x2 0x1p23 0x1p23) (v128.const f64x2 128.5 128.5) (local.get $stochastic)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (local.get $i) (local.get $next))
          (then
            (local.set $inv (v128.load64_splat offset=1024 (i32.shl (local.get $blk) (i32.const 3))))
            (local.set $blk (i32.add (local.get $blk) (i32.const 1)))
            (local.set $next (i32.add (local.get $next) (local.get $B)))))
        ;; elements i … i+7 as four f64x2, and their sign bits as two i32x4 masks
        (if (local.get $f64)
          (then
            (local.set $x0 (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x1 (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x2 (v128.load offset=147488 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $x3 (v128.load offset=147504 (i32.shl (local.get $i) (i32.const 3))))
            (local.set $sa (i32x4.lt_s (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
              (local.get $x0) (local.get $x1)) (v128.const i32x4 0 0 0 0)))
            (local.set $sb (i32x4.lt_s (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
              (local.get $x2) (local.get $x3)) (v128.const i32x4 0 0 0 0))))
          (else
            (local.set $sa (v128.load offset=147456 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $sb (v128.load offset=147472 (i32.shl (local.get $i) (i32.const 2))))
            (local.set $x0 (f64x2.promote_low_f32x4 (local.get $sa)))
            (local.set $x1 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sa) (local.get $sa))))
            (local.set $x2 (f64x2.promote_low_f32x4 (local.get $sb)))
            (local.set $x3 (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sb) (local.get $sb))))
            (local.set $sa (i32x4.lt_s (local.get $sa) (v128.const i32x4 0 0 0 0)))
            (local.set $sb (i32x4.lt_s (local.get $sb) (v128.const i32x4 0 0 0 0)))))
        ;; ⌊x·inv + add⌋, integers below 2^24 moved into the low words by adding 2^52
        (local.set $ca (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
          (f64x2.add (v128.const f64x2 0x1p52 0x1p52) (f64x2.floor (f64x2.add (f64x2.mul (local.get $x0) (local.get $inv)) (local.get $add))))
          (f64x2.add (v128.const f64x2 0x1p52 0x1p52) (f64x2.floor (f64x2.add (f64x2.mul (local.get $x1) (local.get $inv)) (local.get $add))))))
        (local.set $cb (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
          (f64x2.add (v128.const f64x2 0x1p52 0x1p52) (f64x2.floor (f64x2.add (f64x2.mul (local.get $x2) (local.get $inv)) (local.get $add))))
          (f64x2.add (v128.const f64x2 0x1p52 0x1p52) (f64x2.floor (f64x2.add (f64x2.mul (local.get $x3) (local.get $inv)) (local.get $add))))))
        (if (local.get $stochastic)
          (then
            ;; xoshiro128** step of the four lanes
            (local.set $r (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
            (local.set $r (i32x4.mul
              (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25)))
              (v128.const i32x4 9 9 9 9)))
            (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
            (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
            (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
            (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
            (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
            (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
            (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
            (local.set $ra (i32x4.shr_u (local.get $r) (i32.const 16)))
            (local.set $rb (v128.and (local.get $r) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
            ;; F16 = w mod 2^16 (reusing sa, sb); a comparison is −1 when true: subtracting it adds one
            (local.set $sa (v128.and (local.get $ca) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
            (local.set $sb (v128.and (local.get $cb) (v128.const i32x4 0xffff 0xffff 0xffff 0xffff)))
            (local.set $ca (i32x4.max_s (v128.const i32x4 -127 -127 -127 -127) (i32x4.min_s (v128.const i32x4 127 127 127 127)
              (i32x4.sub (i32x4.shr_u (local.get $ca) (i32.const 16))
                (i32x4.add (v128.const i32x4 128 128 128 128) (i32x4.lt_s (local.get $ra) (local.get $sa)))))))
            (local.set $cb (i32x4.max_s (v128.const i32x4 -127 -127 -127 -127) (i32x4.min_s (v128.const i32x4 127 127 127 127)
              (i32x4.sub (i32x4.shr_u (local.get $cb) (i32.const 16))
                (i32x4.add (v128.const i32x4 128 128 128 128) (i32x4.lt_s (local.get $rb) (local.get $sb)))))))
            (local.set $m (i32.or
              (i32x4.bitmask (i32x4.eq (local.get $ra) (local.get $sa)))
              (i32.shl (i32x4.bitmask (i32x4.eq (local.get $rb) (local.get $sb))) (i32.const 4))))
            (if (local.get $m)
              (then (local.set $ties (call $record (local.get $m) (local.get $i) (local.get $n) (local.get $ties))))))
          (else
            (local.set $ca (i32x4.sub (local.get $ca) (v128.const i32x4 128 128 128 128)))
            (local.set $cb (i32x4.sub (local.get $cb) (v128.const i32x4 128 128 128 128)))))
        (local.set $ca (i16x8.narrow_i32x4_s (local.get $ca) (local.get $cb)))
        (v128.store64_lane offset=409600 0 (local.get $i) (i8x16.narrow_i16x8_s (local.get $ca) (local.get $ca)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (v128.store offset=0 (i32.const 0) (local.get $s0))
    (v128.store offset=16 (i32.const 0) (local.get $s1))
    (v128.store offset=32 (i32.const 0) (local.get $s2))
    (v128.store offset=48 (i32.const 0) (local.get $s3))
    (local.get $ties))

  ;; Packs n codes of w bits (1 ≤ w ≤ 16; u8 at IN when u16 = 0, else u16) LSB-first into OUT from
  ;; its first bit, as bitio.ts packCodes does; the last byte's unused high bits are 0. n is a
  ;; multiple of 8 except in the last chunk, so every chunk starts on a byte. Returns the number of
  ;; bytes, ⌈n·w/8⌉ (one more word may be written past them).
  (func (export "pack") (param $n i32) (param $w i32) (param $u16 i32) (result i32)
    (local $i i32) (local $o i32) (local $acc i64) (local $nacc i64) (local $w64 i64) (local $mask i64) (local $c i64)
    (local.set $w64 (i64.extend_i32_u (local.get $w)))
    (local.set $mask (i64.sub (i64.shl (i64.const 1) (local.get $w64)) (i64.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $u16)
          (then (local.set $c (i64.load16_u offset=147456 (i32.shl (local.get $i) (i32.const 1)))))
          (else (local.set $c (i64.load8_u offset=147456 (local.get $i)))))
        (local.set $acc (i64.or (local.get $acc) (i64.shl (i64.and (local.get $c) (local.get $mask)) (local.get $nacc))))
        (local.set $nacc (i64.add (local.get $nacc) (local.get $w64)))
        (if (i64.ge_u (local.get $nacc) (i64.const 32))
          (then
            (i32.store offset=409600 (local.get $o) (i32.wrap_i64 (local.get $acc)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $acc (i64.shr_u (local.get $acc) (i64.const 32)))
            (local.set $nacc (i64.sub (local.get $nacc) (i64.const 32)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; the remaining nacc < 32 bits; the word's bytes past them are 0
    (i32.store offset=409600 (local.get $o) (i32.wrap_i64 (local.get $acc)))
    (i32.add (local.get $o) (i32.wrap_i64 (i64.shr_u (i64.add (local.get $nacc) (i64.const 7)) (i64.const 3)))))

  ;; Unpacks n codes of w bits (1 ≤ w ≤ 16), LSB-first from the first bit of IN, into OUT (u8 when
  ;; u16 = 0, else u16), as bitio.ts unpackCodes does. Returns 1 if some code has
  ;; (code & vmask) > vmax (the caller then finds and names it), else 0. Reads up to 3 bytes past
  ;; the chunk's ⌈n·w/8⌉; their bits only reach codes past n.
  (func (export "unpack") (param $n i32) (param $w i32) (param $u16 i32) (param $vmask i32) (param $vmax i32) (result i32)
    (local $i i32) (local $p i32) (local $acc i64) (local $nacc i32) (local $c i32) (local $mask i64) (local $bad i32)
    (local.set $mask (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $w))) (i64.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.lt_u (local.get $nacc) (local.get $w))
          (then
            (local.set $acc (i64.or (local.get $acc)
              (i64.shl (i64.load32_u offset=147456 (local.get $p)) (i64.extend_i32_u (local.get $nacc)))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $nacc (i32.add (local.get $nacc) (i32.const 32)))))
        (local.set $c (i32.wrap_i64 (i64.and (local.get $acc) (local.get $mask))))
        (local.set $acc (i64.shr_u (local.get $acc) (i64.extend_i32_u (local.get $w))))
        (local.set $nacc (i32.sub (local.get $nacc) (local.get $w)))
        (if (local.get $u16)
          (then (i32.store16 offset=409600 (i32.shl (local.get $i) (i32.const 1)) (local.get $c)))
          (else (i32.store8 offset=409600 (local.get $i) (local.get $c))))
        (local.set $bad (i32.or (local.get $bad) (i32.gt_u (i32.and (local.get $c) (local.get $vmask)) (local.get $vmax))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $bad))
)
