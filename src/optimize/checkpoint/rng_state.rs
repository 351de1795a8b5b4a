//! A ChaCha20 stream's exact position, as a checkpoint stores it.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

/// Word positions a stream can report: a 64-bit block counter times 16 words
/// per block. A larger stored position is not one this build wrote.
const WORD_POS_LIMIT: u128 = 1 << 68;

/// A ChaCha20 stream's exact position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    /// The 32-byte key, hex.
    pub seed: String,
    /// The stream (nonce) number.
    pub stream: u64,
    /// The word position (a u128, as a decimal string).
    pub word_pos: String,
}

impl RngState {
    /// Where `rng` stands.
    pub fn of(rng: &ChaCha20Rng) -> Self {
        Self {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The stream at the stored position, or why the state is not one.
    pub fn restore(&self) -> Result<ChaCha20Rng, String> {
        let bytes: Vec<u8> = (0..self.seed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.seed.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| "the seed is not hex".to_string())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the seed is not 32 bytes".to_string())?;
        let pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| "the position is not a number".to_string())?;
        if pos >= WORD_POS_LIMIT {
            return Err(format!("the position {pos} is past the stream's end"));
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }

    /// The stream at the stored position, which must continue `fresh` (the
    /// same key and stream number: the run's seed made it).
    pub fn restore_as(&self, fresh: &ChaCha20Rng) -> Result<ChaCha20Rng, String> {
        let rng = self.restore()?;
        if rng.get_seed() != fresh.get_seed() || rng.get_stream() != fresh.get_stream() {
            return Err("the key or stream number is not the one the run's seed gives".into());
        }
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn rng_state_round_trips_mid_block() {
        let mut a = ChaCha20Rng::seed_from_u64(9);
        a.set_stream(1);
        for _ in 0..7 {
            let _: u32 = a.random();
        }
        let state = RngState::of(&a);
        let json = serde_json::to_string(&state).unwrap();
        let mut b = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        let xs: Vec<u64> = (0..20).map(|_| a.random()).collect();
        let ys: Vec<u64> = (0..20).map(|_| b.random()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn bad_rng_states_are_errors() {
        let state = |seed: &str, word_pos: &str| RngState {
            seed: seed.into(),
            stream: 0,
            word_pos: word_pos.into(),
        };
        let key = "00".repeat(32);
        assert!(state("zz", "0").restore().unwrap_err().contains("hex"));
        assert!(state("00", "0").restore().unwrap_err().contains("32 bytes"));
        assert!(state(&key, "-1").restore().is_err());
        assert!(
            state(&key, &WORD_POS_LIMIT.to_string())
                .restore()
                .unwrap_err()
                .contains("end")
        );
        assert!(
            state(&key, &(WORD_POS_LIMIT - 1).to_string())
                .restore()
                .is_ok()
        );
    }

    #[test]
    fn a_stream_of_another_seed_does_not_continue_the_run() {
        let fresh = ChaCha20Rng::seed_from_u64(1);
        let mut other = ChaCha20Rng::seed_from_u64(2);
        assert!(RngState::of(&fresh).restore_as(&fresh).is_ok());
        assert!(RngState::of(&other).restore_as(&fresh).is_err());
        other = fresh.clone();
        other.set_stream(1);
        assert!(RngState::of(&other).restore_as(&fresh).is_err());
    }
}
