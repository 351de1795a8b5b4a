//! Sampling models: the `num_candidates` variants of the program's model that
//! sample trajectories, each with its own rollout id (part of the LM cache key,
//! so distinct samples never collapse into one cache entry).

use crate::ir::Resample;
use crate::program::ModelOverride;

use super::rng::request_seed;

/// What the variants are built from.
#[derive(Debug, Clone)]
pub struct VariantConfig {
    /// The optimize block's `resample`: rollout ids or temperatures.
    pub scheme: Resample,
    /// How many variants to build, the teacher included; the `temperature`
    /// scheme may yield fewer once equal temperatures are merged.
    pub num_candidates: usize,
    /// The teacher model item, sampled first when configured.
    pub teacher: Option<String>,
    /// The program model's own temperature (the `temperature` scheme's t0).
    pub base_temperature: f64,
    /// The provider's model id of the program's model, to recognise reasoning
    /// models whose temperature is fixed (o1/o3-style names).
    pub model_id: String,
    /// First rollout id.
    pub first_rollout_id: u64,
    /// The optimize block's seed, mixed into each rollout's request seed.
    pub run_seed: u64,
}

/// True for o1/o3-style reasoning model ids (`o1`, `o3-mini`, `openai/o1-...`).
pub fn is_reasoning_model(model_id: &str) -> bool {
    let family = model_id
        .rsplit('/')
        .next()
        .unwrap_or(model_id)
        .to_lowercase();
    let mut cs = family.chars();
    cs.next() == Some('o') && matches!(cs.next(), Some('1') | Some('3'))
}

/// The sampling variants, teacher first.
///
/// - `rollout`: temperature 1.0 and rollout ids `r0 .. r0 + n - 1`, each with
///   a request seed derived from the run seed and its rollout id (the teacher
///   keeps its own temperature and takes the first id).
/// - `temperature`: temperatures `t0 + 0.5 + i * 0.5 / n`, or, for reasoning
///   models, seeds `t0_seed + 1 + i` at the model's own temperature;
///   duplicates removed. Rollout ids are still distinct per variant.
pub fn sampling_variants(cfg: &VariantConfig) -> Vec<ModelOverride> {
    let n = cfg.num_candidates;
    let mut out = Vec::with_capacity(n);
    let mut next_id = cfg.first_rollout_id;
    if let Some(teacher) = &cfg.teacher {
        out.push(ModelOverride {
            model: Some(teacher.clone()),
            temperature: None,
            rollout_id: Some(next_id),
            seed: Some(request_seed(cfg.run_seed, next_id)),
        });
        next_id += 1;
    }
    let rest = n.saturating_sub(out.len());
    match cfg.scheme {
        crate::ir::Resample::Rollout => {
            for _ in 0..rest {
                out.push(ModelOverride {
                    model: None,
                    temperature: Some(1.0),
                    rollout_id: Some(next_id),
                    seed: Some(request_seed(cfg.run_seed, next_id)),
                });
                next_id += 1;
            }
        }
        crate::ir::Resample::Temperature => {
            if is_reasoning_model(&cfg.model_id) {
                for i in 0..rest {
                    out.push(ModelOverride {
                        model: None,
                        temperature: None,
                        rollout_id: Some(next_id),
                        seed: Some(1 + i as u64),
                    });
                    next_id += 1;
                }
            } else {
                let mut temps: Vec<f64> = Vec::new();
                for i in 0..rest {
                    let t = cfg.base_temperature + 0.5 + i as f64 * (0.5 / n as f64);
                    if !temps.iter().any(|x| x.to_bits() == t.to_bits()) {
                        temps.push(t);
                    }
                }
                for t in temps {
                    out.push(ModelOverride {
                        model: None,
                        temperature: Some(t),
                        rollout_id: Some(next_id),
                        seed: None,
                    });
                    next_id += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(scheme: Resample, teacher: Option<&str>) -> VariantConfig {
        VariantConfig {
            scheme,
            num_candidates: 4,
            teacher: teacher.map(String::from),
            base_temperature: 0.0,
            model_id: "gpt-4o-mini".into(),
            first_rollout_id: 0,
            run_seed: 9,
        }
    }

    #[test]
    fn rollout_scheme() {
        let v = sampling_variants(&cfg(Resample::Rollout, None));
        assert_eq!(v.len(), 4);
        let ids: Vec<_> = v.iter().map(|o| o.rollout_id.unwrap()).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
        assert!(
            v.iter()
                .all(|o| o.temperature == Some(1.0) && o.model.is_none())
        );
        assert_eq!(v[2].seed, Some(request_seed(9, 2)));
    }

    #[test]
    fn teacher_comes_first() {
        let v = sampling_variants(&cfg(Resample::Rollout, Some("strong")));
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].model.as_deref(), Some("strong"));
        assert_eq!(v[0].temperature, None);
        assert_eq!(v[1].rollout_id, Some(1));
    }

    #[test]
    fn temperature_scheme() {
        let v = sampling_variants(&cfg(Resample::Temperature, None));
        let t: Vec<f64> = v.iter().map(|o| o.temperature.unwrap()).collect();
        assert_eq!(t, vec![0.5, 0.625, 0.75, 0.875]);
        let mut c = cfg(Resample::Temperature, None);
        c.model_id = "openai/o3-mini".into();
        let v = sampling_variants(&c);
        assert!(v.iter().all(|o| o.temperature.is_none()));
        assert_eq!(
            v.iter().map(|o| o.seed.unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn reasoning_names() {
        assert!(is_reasoning_model("o1"));
        assert!(is_reasoning_model("openai/o3-mini"));
        assert!(!is_reasoning_model("gpt-4o"));
        assert!(!is_reasoning_model("ollama/olmo"));
    }
}
