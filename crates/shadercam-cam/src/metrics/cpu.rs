//! The small host-side parts of the metrics, each the library's formula to the letter: the
//! percentile thresholds (numpy's linear interpolation, in f32 as numpy computes it for a
//! float32 map), the deletion/insertion order, RISE's blur kernel and AUC, Complexity, the
//! Pearson coherency and ARCC's harmonic mean.

/// `np.percentile(a, p)` (method `linear`) of a float32 array, as numpy 2 computes it: the
/// virtual index `(n − 1)·p/100` in f64, then `_lerp` in f32 (`a + (b − a)·γ`, or
/// `b − (b − a)·(1 − γ)` when `γ ≥ 0.5`). `sorted` is ascending.
pub fn percentile_sorted(sorted: &[f32], p: f64) -> f32 {
    let n = sorted.len();
    assert!(n > 0, "percentile of an empty map");
    let q = p / 100.0;
    let virt = (n - 1) as f64 * q;
    if virt >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    let prev = virt.floor().max(0.0) as usize;
    let next = (prev + 1).min(n - 1);
    let gamma = virt - prev as f64;
    let (a, b) = (sorted[prev], sorted[next]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * ((1.0 - gamma) as f32)
    } else {
        a + diff * (gamma as f32)
    }
}

/// The ascending copy of a map (f32 total order).
pub fn sorted(map: &[f32]) -> Vec<f32> {
    let mut s = map.to_vec();
    s.sort_by(f32::total_cmp);
    s
}

/// ROAD's threshold for one percentile: on `heat` (most relevant first) or on `1 − heat`
/// (least relevant first, computed in f32 as torch's `1 - mask`).
pub fn road_threshold(heat: &[f32], p: f64, lerf: bool) -> f32 {
    let m: Vec<f32> = if lerf {
        heat.iter().map(|&h| 1.0 - h).collect()
    } else {
        heat.to_vec()
    };
    percentile_sorted(&sorted(&m), p)
}

/// Each pixel's rank in RISE's order (`np.flip(np.argsort(map))`: decreasing heat), 0 =
/// hottest. Ties: numpy's default sort is not stable, so we fix one order, that of a stable
/// ascending sort flipped (equal values: larger index first).
pub fn deletion_ranks(heat: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..heat.len() as u32).collect();
    order.sort_by(|&a, &b| {
        heat[a as usize]
            .total_cmp(&heat[b as usize])
            .then(a.cmp(&b))
    });
    order.reverse();
    let mut ranks = vec![0u32; heat.len()];
    for (r, &p) in order.iter().enumerate() {
        ranks[p as usize] = r as u32;
    }
    ranks
}

/// RISE's `gkern(klen, nsig)` (one channel): scipy's `gaussian_filter` (mode `reflect`,
/// truncate 4) of a `klen`x`klen` delta, sigma `nsig`, cast to f32. The filter's radius
/// (`int(4·σ + 0.5)`) exceeds the array, so the reflections fold mass back in: this is not a
/// truncated Gaussian.
pub fn gkern(klen: usize, nsig: f64) -> Vec<f32> {
    let r = (4.0 * nsig + 0.5) as i64;
    let w: Vec<f64> = (-r..=r)
        .map(|x| (-0.5 / (nsig * nsig) * (x * x) as f64).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    let n = klen as i64;
    let c = n / 2;
    // scipy's 'reflect' (d c b a | a b c d | d c b a), period 2n.
    let reflect = |m: i64| {
        let m = m.rem_euclid(2 * n);
        if m >= n { 2 * n - 1 - m } else { m }
    };
    let k1: Vec<f64> = (0..n)
        .map(|o| {
            (-r..=r)
                .filter(|&t| reflect(o + t) == c)
                .map(|t| w[(t + r) as usize] / sum)
                .sum()
        })
        .collect();
    let mut k = Vec::with_capacity(klen * klen);
    for a in &k1 {
        for b in &k1 {
            k.push((a * b) as f32);
        }
    }
    k
}

/// RISE's `auc`: `(Σ s − s_0/2 − s_n/2) / n` for `n + 1` scores (the trapezoid rule on a unit
/// interval).
pub fn auc(scores: &[f64]) -> f64 {
    let n = scores.len();
    if n < 2 {
        return f64::NAN;
    }
    (scores.iter().sum::<f64>() - scores[0] / 2.0 - scores[n - 1] / 2.0) / (n - 1) as f64
}

/// The library's `Complexity`: `Σ |H| / #pixels`.
pub fn complexity(heat: &[f32]) -> f64 {
    heat.iter().map(|&h| (h as f64).abs()).sum::<f64>() / heat.len() as f64
}

/// The library's `batch_pearson_coherency` for one pair, mapped to [0, 1] as `Coherency` does:
/// `(ρ + 1)/2`, `ρ = cov(a, b) / (std a · std b + 1e-8)` with `n − 1` in each.
pub fn coherency(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        cov += x * y;
        va += x * x;
        vb += y * y;
    }
    let d = n - 1.0;
    let rho = (cov / d) / ((va / d).sqrt() * (vb / d).sqrt() + 1e-8);
    (rho + 1.0) / 2.0
}

/// The library's `ARCC`: `3 / (1/(coherency + ε) + 1/((1 − complexity) + ε) + 1/(road' + ε))`
/// with `road' = clip(2·ROADCombined, 0, 1)` and `ε = 1e-8`.
pub fn arcc(complexity: f64, coherency: f64, road_combined: f64) -> f64 {
    let road = (road_combined * 2.0).clamp(0.0, 1.0);
    let eps = 1e-8;
    3.0 / (1.0 / (coherency + eps) + 1.0 / ((1.0 - complexity) + eps) + 1.0 / (road + eps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_on_small_cases() {
        // np.percentile(np.float32([0, 1, 2, 3]), 10) == 0.3 (f32); 50 -> 1.5; 90 -> 2.7.
        let s = [0.0f32, 1.0, 2.0, 3.0];
        assert_eq!(percentile_sorted(&s, 10.0), 0.3f32);
        assert_eq!(percentile_sorted(&s, 50.0), 1.5f32);
        assert_eq!(percentile_sorted(&s, 90.0), 2.7f32);
        assert_eq!(percentile_sorted(&s, 100.0), 3.0f32);
    }

    #[test]
    fn ranks_put_the_hottest_first_and_ties_by_larger_index() {
        assert_eq!(deletion_ranks(&[0.1, 0.9, 0.5, 0.9]), vec![3, 1, 2, 0]);
    }

    #[test]
    fn gkern_sums_to_one_and_is_symmetric() {
        let k = gkern(11, 5.0);
        let s: f32 = k.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "{s}");
        assert_eq!(k[0], k[120]);
        assert_eq!(k[10], k[110]);
        // scipy.ndimage.gaussian_filter(delta 11x11, 5).astype('float32') at [0,0], [5,5], [0,5].
        for (i, want) in [(0, 0.0077366354f32), (60, 0.008832628), (5, 0.008266488)] {
            assert!((k[i] - want).abs() <= 2e-9, "k[{i}] = {} != {want}", k[i]);
        }
    }

    #[test]
    fn auc_is_the_trapezoid_rule() {
        assert!((auc(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!((auc(&[0.0, 1.0]) - 0.5).abs() < 1e-12);
    }
}
