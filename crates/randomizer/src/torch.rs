//! PyTorch's CPU generator and its `randperm`, for the one draw the official code makes that
//! every seed shares: the train/validation split (`random_split` under `manual_seed(777)`).
//!
//! Our own draws are Philox streams; this exists only so a run can train on exactly the images
//! the official code trains on. A fixed split is not averaged away by more seeds, so it is the
//! one difference between the two codes that could shift every run the same way.

/// MT19937 seeded as `torch.Generator.manual_seed` seeds it (the low 32 bits of the seed, the
/// reference `init_genrand`), giving the 32-bit outputs `CPUGeneratorImpl::random()` returns.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; N],
    next: usize,
}

const N: usize = 624;
const M: usize = 397;

impl Mt19937 {
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; N];
        state[0] = seed as u32;
        for j in 1..N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        Self { state, next: N }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.next == N {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^ (y >> 18)
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7FFF_FFFF);
            let mag = if y & 1 == 1 { 0x9908_B0DF } else { 0 };
            self.state[i] = self.state[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.next = 0;
    }
}

/// From this many elements on, torch's `randperm` draws 64-bit numbers, which we do not
/// reproduce.
pub const TORCH_RANDPERM_LIMIT: usize = (u32::MAX / 20) as usize;

/// `torch.randperm(n, generator=torch.Generator().manual_seed(seed))` on the CPU: PyTorch's
/// forward swap loop with `random() % (n − i)`, modulo bias included, as it is for every `n`
/// below 2³²/20.
pub fn torch_randperm(n: usize, seed: u64) -> Vec<u32> {
    assert!(
        n < TORCH_RANDPERM_LIMIT,
        "torch draws a permutation of {n} elements another way"
    );
    let mut g = Mt19937::new(seed);
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in 0..n.saturating_sub(1) {
        let z = g.next_u32() as usize % (n - i);
        p.swap(i, i + z);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C++ standard's check of `std::mt19937` (default seed 5489): its 10,000th output.
    #[test]
    fn mt19937_meets_the_standard_s_known_answer() {
        let mut g = Mt19937::new(5489);
        assert_eq!(g.next_u32(), 3_499_211_612);
        let last = (1..10_000).map(|_| g.next_u32()).last().unwrap();
        assert_eq!(last, 4_123_659_995);
    }

    /// Printed by PyTorch 2.15 (`torch.randperm(N, generator=torch.Generator().manual_seed(777))`).
    #[test]
    fn randperm_is_torch_s() {
        let p = torch_randperm(50_000, 777);
        assert_eq!(&p[..8], TORCH_50000_777_HEAD);
        assert_eq!(&p[p.len() - 4..], TORCH_50000_777_TAIL);
        assert_eq!(torch_randperm(10, 1), TORCH_10_1);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &v)| v as usize == i));
    }

    const TORCH_50000_777_HEAD: &[u32] = &[35735, 36090, 13719, 14410, 15695, 14677, 22169, 7341];
    const TORCH_50000_777_TAIL: &[u32] = &[41126, 30864, 13415, 3107];
    const TORCH_10_1: [u32; 10] = [5, 6, 1, 2, 0, 8, 9, 3, 7, 4];
}
