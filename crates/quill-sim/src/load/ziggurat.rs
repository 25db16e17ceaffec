//! Ziggurat samplers (Marsaglia & Tsang, 2000) for the standard exponential
//! and normal distributions.
//!
//! A 24-hour Poisson load at 500 requests/s draws 43 million gaps and
//! durations; inversion (`-ln U`) and the polar method spend most of their
//! time in `log`. The ziggurat accepts about 99% of draws with one table
//! look-up and one multiplication. Its tables are computed once with `libm`
//! (pure Rust, the same bits on every platform), and the rare slow paths
//! use `libm` too, so a seed gives the same numbers everywhere.
//!
//! ```text
//!  f(x) │█▌            256 layers of equal area V; a draw picks a layer
//!       │███▌          and a point in it: inside the part under the curve
//!       │██████▌       of the next layer → accept at once; in the wedge →
//!       │██████████▌   test against f; in the base layer's tail → sample
//!       └──────────────  the tail exactly.
//! ```

use std::sync::OnceLock;

const LAYERS: usize = 256;

/// Layer boundaries `x[0..=256]` (x[0] is the base layer's virtual width,
/// x[256] = 0) and `f(x)` at each.
struct Tables {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

fn build(r: f64, v: f64, f: fn(f64) -> f64, f_inv: fn(f64) -> f64) -> Tables {
    let mut x = [0.0; LAYERS + 1];
    let mut fx = [0.0; LAYERS + 1];
    x[0] = v / f(r);
    x[1] = r;
    for i in 2..LAYERS {
        // Each layer has area v: x[i-1] · (f(x[i]) − f(x[i-1])) = v.
        x[i] = f_inv(v / x[i - 1] + f(x[i - 1]));
    }
    x[LAYERS] = 0.0;
    for i in 0..=LAYERS {
        fx[i] = f(x[i]);
    }
    Tables { x, f: fx }
}

fn exp_tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        build(
            7.697_117_470_131_05,
            0.003_949_659_822_581_557,
            |x| libm::exp(-x),
            |y| -libm::log(y),
        )
    })
}

fn normal_tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        build(
            3.654_152_885_361_009,
            0.004_928_673_233_99,
            |x| libm::exp(-0.5 * x * x),
            |y| libm::sqrt(-2.0 * libm::log(y)),
        )
    })
}

/// A source of 64-bit random words.
pub(crate) trait Bits {
    fn bits(&mut self) -> u64;

    /// Uniform in [0, 1), 53 bits.
    fn unit(&mut self) -> f64 {
        unit_of(self.bits())
    }
}

/// Standard exponential (mean 1). The common case (about 99% of draws:
/// one word, one layer look-up) is inlined into the caller; the rest
/// continues in [`exp1_slow`] with the same word, so the draws are those
/// of the plain loop.
#[inline]
pub(crate) fn exp1(rng: &mut impl Bits) -> f64 {
    let t = exp_tables();
    let b = rng.bits();
    let i = (b & 0xff) as usize;
    let x = unit_of(b) * t.x[i];
    if x < t.x[i + 1] {
        return x;
    }
    exp1_slow(rng, t, b)
}

#[cold]
#[inline(never)]
fn exp1_slow(rng: &mut impl Bits, t: &Tables, first: u64) -> f64 {
    let mut base = 0.0;
    let mut next = Some(first);
    loop {
        let b = next.take().unwrap_or_else(|| rng.bits());
        let i = (b & 0xff) as usize;
        let x = unit_of(b) * t.x[i];
        if x < t.x[i + 1] {
            return base + x;
        }
        if i == 0 {
            // The tail beyond r is again exponential (memoryless).
            base += t.x[1];
            continue;
        }
        let y = t.f[i] + rng.unit() * (t.f[i + 1] - t.f[i]);
        if y < libm::exp(-x) {
            return base + x;
        }
    }
}

/// Standard normal (mean 0, deviation 1); inlined common case as for
/// [`exp1`].
#[inline]
pub(crate) fn normal(rng: &mut impl Bits) -> f64 {
    let t = normal_tables();
    let b = rng.bits();
    let i = (b & 0xff) as usize;
    let x = unit_of(b) * t.x[i];
    if x < t.x[i + 1] {
        return with_sign_of_bit8(x, b);
    }
    normal_slow(rng, t, b)
}

#[cold]
#[inline(never)]
fn normal_slow(rng: &mut impl Bits, t: &Tables, first: u64) -> f64 {
    let mut next = Some(first);
    loop {
        let b = next.take().unwrap_or_else(|| rng.bits());
        let i = (b & 0xff) as usize;
        let negative = b & 0x100 != 0;
        let x = unit_of(b) * t.x[i];
        let signed = |v: f64| if negative { -v } else { v };
        if x < t.x[i + 1] {
            return signed(x);
        }
        if i == 0 {
            // Marsaglia's tail method beyond r.
            let r = t.x[1];
            loop {
                let a = -libm::log(1.0 - rng.unit()) / r;
                let c = -libm::log(1.0 - rng.unit());
                if 2.0 * c > a * a {
                    return signed(r + a);
                }
            }
        }
        let y = t.f[i] + rng.unit() * (t.f[i + 1] - t.f[i]);
        if y < libm::exp(-0.5 * x * x) {
            return signed(x);
        }
    }
}

/// `-x` if bit 8 of `b` is set, else `x`: the sign bit flipped by an
/// exclusive or, which is what negation does, without a branch (the bit is
/// a coin toss, so a branch on it is mispredicted on half the draws).
#[inline]
fn with_sign_of_bit8(x: f64, b: u64) -> f64 {
    f64::from_bits(x.to_bits() ^ ((b & 0x100) << 55))
}

/// The uniform number in [0, 1) made of a word's top 53 bits.
#[inline]
fn unit_of(b: u64) -> f64 {
    // Through i64: the same value (below 2^53), one instruction on x86-64.
    ((b >> 11) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pcg(rand_pcg::Pcg64Mcg);
    impl Bits for Pcg {
        fn bits(&mut self) -> u64 {
            use rand::Rng;
            self.0.next_u64()
        }
    }

    fn rng() -> Pcg {
        use rand::SeedableRng;
        Pcg(rand_pcg::Pcg64Mcg::seed_from_u64(7))
    }

    #[test]
    fn the_sign_bit_is_negation() {
        for x in [0.0, 1e-300, 0.5, 1.0, 3.7, f64::MAX] {
            for b in [0u64, 0xff, 0x100, 0x1ff, u64::MAX, u64::MAX - 0x100] {
                let expected = if b & 0x100 != 0 { -x } else { x };
                assert_eq!(with_sign_of_bit8(x, b).to_bits(), expected.to_bits());
            }
        }
    }

    #[test]
    fn tables_close_at_zero() {
        // The recurrence must land on x = 0 at the top: the last computed
        // boundary is small and each layer has the intended area.
        for t in [exp_tables(), normal_tables()] {
            assert!(
                t.x[LAYERS - 1] > 0.0 && t.x[LAYERS - 1] < 0.5,
                "{}",
                t.x[LAYERS - 1]
            );
            assert!(t.x.windows(2).all(|w| w[0] > w[1]));
        }
    }

    #[test]
    fn exponential_moments() {
        let mut r = rng();
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| exp1(&mut r)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        let tail = xs.iter().filter(|&&x| x > 3.0).count() as f64 / n as f64;
        assert!((tail - (-3.0f64).exp()).abs() < 0.003, "P(X>3) {tail}");
    }

    #[test]
    fn normal_moments() {
        let mut r = rng();
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut r)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        let beyond2 = xs.iter().filter(|x| x.abs() > 2.0).count() as f64 / n as f64;
        assert!((beyond2 - 0.0455).abs() < 0.003, "P(|X|>2) {beyond2}");
    }
}
