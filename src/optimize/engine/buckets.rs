//! SIMBA step 4 (docs/optimizer.md): the batch's score statistics, the
//! trajectories grouped into one bucket per example (best first), and the
//! buckets ordered by their key.

use crate::artifacts::{BatchStats, BucketRecord};
use crate::optimize::events::Event;
use crate::optimize::pool::mean_or_zero;
use crate::optimize::stats::{BucketKey, order_buckets, percentile, sort_bucket};
use crate::optimize::strategy::{Bucket, Trajectory};

use super::run::Run;
use super::sample::Sampled;

/// Step 4's result.
pub(super) struct Buckets {
    /// One bucket per mini-batch example, in mini-batch order.
    pub buckets: Vec<Bucket>,
    /// Bucket indices in processing order (largest key first).
    pub order: Vec<usize>,
    /// The buckets' records for trials.jsonl, in processing order.
    pub records: Vec<BucketRecord>,
}

impl Buckets {
    /// The bucket at `rank` in processing order.
    pub fn ranked(&self, rank: usize) -> &Bucket {
        &self.buckets[self.order[rank]]
    }
}

impl Run {
    /// Step 4: the mean and the 10th and 90th percentiles of every score of
    /// the step (the strategies' thresholds), announced.
    pub fn batch_stats(&self, step: usize, sampled: &Sampled) -> BatchStats {
        let scores = &sampled.scores;
        let stats = BatchStats {
            mean: mean_or_zero(scores),
            p10: percentile(scores, 10.0),
            p90: percentile(scores, 90.0),
            failed_executions: sampled.failed_executions,
        };
        self.report.events.emit(Event::BatchScored {
            step,
            mean: stats.mean,
            p10: stats.p10,
            p90: stats.p90,
            failed_executions: stats.failed_executions,
        });
        stats
    }

    /// Step 4: one bucket per example of `batch`, each best first (equal
    /// scores keep variant order), then ordered by key. `trajectories` and
    /// `scores` are variant-major, `variants` of them per example.
    pub fn bucket_trajectories(
        &self,
        batch: &[usize],
        variants: usize,
        trajectories: Vec<Trajectory>,
        scores: &[f64],
    ) -> Buckets {
        let bsize = batch.len();
        // Options, so each trajectory can be moved into its bucket once.
        let mut trajectories: Vec<Option<Trajectory>> =
            trajectories.into_iter().map(Some).collect();
        let mut buckets: Vec<Bucket> = Vec::with_capacity(bsize);
        let mut keys = Vec::with_capacity(bsize);
        for (pos, &example) in batch.iter().enumerate() {
            let jobs: Vec<usize> = (0..variants).map(|v| v * bsize + pos).collect();
            let own: Vec<f64> = jobs.iter().map(|&j| scores[j]).collect();
            let order = sort_bucket(&own);
            let sorted: Vec<f64> = order.iter().map(|&o| own[o]).collect();
            keys.push(BucketKey::of_sorted(&sorted));
            buckets.push(Bucket {
                example_index: example,
                example: self.data.trainset[example].clone(),
                trajectories: order
                    .iter()
                    .map(|&o| {
                        trajectories[jobs[o]]
                            .take()
                            .expect("each trajectory is in one bucket")
                    })
                    .collect(),
            });
        }
        let order = order_buckets(&keys);
        let records = order
            .iter()
            .map(|&b| BucketRecord {
                example: buckets[b].example_index,
                scores: buckets[b]
                    .trajectories
                    .iter()
                    .map(|t| t.score.value)
                    .collect(),
                max_to_min_gap: keys[b].max_to_min_gap,
                max_score: keys[b].max_score,
                max_to_avg_gap: keys[b].max_to_avg_gap,
            })
            .collect();
        Buckets {
            buckets,
            order,
            records,
        }
    }
}
