//! The llama.cpp worker: one thread owns a loaded model and its context and
//! decodes requests one at a time, in arrival order.
//!
//! Why one thread: a llama.cpp context is not shareable, and decoding several
//! sequences in one batch gains little on small CPUs while making a reply
//! depend on which requests happened to share its batch. One at a time keeps
//! every reply a function of its request alone. The thread also keeps the
//! previous request's KV cache, so the next prompt only decodes the tokens
//! after the common prefix (instructions and demos repeat across requests).
//!
//! `batch = N` (opt-in) decodes up to N queued requests together, one
//! sequence each, one token per sequence per llama.cpp call; it gives up the
//! prefix reuse and the reproducibility described above.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak, mpsc};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use super::settings::{DEFAULT_CONTEXT, LocalSettings, Sampling};
use crate::lm::ModelError;

/// Tokens decoded per llama.cpp call while reading a prompt.
const BATCH: usize = 512;
/// How often (in generated tokens) the worker checks whether the caller
/// still waits (a timed-out request is abandoned).
const CANCEL_CHECK_EVERY: u32 = 16;

/// One completion to run.
pub(crate) struct Job {
    /// (role, content) pairs.
    pub messages: Vec<(String, String)>,
    pub max_tokens: u32,
    /// 0 = greedy.
    pub temperature: f32,
    pub seed: u32,
    pub sampling: Sampling,
    /// A GBNF grammar the reply must follow.
    pub grammar: Option<String>,
    /// Stop as soon as the reply ends with this text.
    pub stop: Option<&'static str>,
}

/// What a job produced.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub text: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the previous request's KV cache.
    pub reused_tokens: u64,
}

type Reply = oneshot::Sender<Result<Output, String>>;

/// Facts about a loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The context window in use (tokens).
    pub context: u32,
    /// The model's training context (tokens).
    pub context_train: u32,
    pub load_time: Duration,
    /// The GGUF file carried a chat template (else ChatML is used).
    pub own_template: bool,
}

/// A loaded model served by its worker thread. Dropping the last handle
/// stops the thread and frees the model.
pub(crate) struct Engine {
    jobs: Mutex<mpsc::Sender<(Job, Reply)>>,
    pub info: ModelInfo,
}

impl Engine {
    /// Queues a job; the reply arrives on the returned channel.
    pub fn submit(&self, job: Job) -> Result<oneshot::Receiver<Result<Output, String>>, String> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .lock()
            .map_err(|_| "the local model worker is gone".to_string())?
            .send((job, tx))
            .map_err(|_| "the local model worker stopped".to_string())?;
        Ok(rx)
    }
}

/// The process-wide llama.cpp backend (it may be initialised only once).
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every load step to stderr; keep the run's output
            // readable unless the user asks for them.
            if std::env::var("SIMBA_LLAMA_LOG").as_deref() != Ok("1") {
                llama_cpp_2::send_logs_to_tracing(
                    llama_cpp_2::LogOptions::default().with_logs_enabled(false),
                );
            }
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What makes two items share one loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    path: PathBuf,
    threads: u32,
    context: Option<u32>,
    prefix_cache: bool,
    batch: u32,
}

/// The loaded model for these settings: shared with every other item (and
/// every other registry in the process) that loads the same file the same
/// way, so a run loads each model once.
pub(crate) fn shared(model: &str, settings: &LocalSettings) -> Result<Arc<Engine>, ModelError> {
    static LOADED: Mutex<Vec<(Key, Weak<Engine>)>> = Mutex::new(Vec::new());
    let key = Key {
        path: std::fs::canonicalize(&settings.path).unwrap_or_else(|_| settings.path.clone()),
        threads: settings.threads,
        context: settings.context,
        prefix_cache: settings.prefix_cache,
        batch: settings.batch,
    };
    // Held while loading, so two items never load the same file twice.
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    loaded.retain(|(_, w)| w.strong_count() > 0);
    if let Some(engine) = loaded
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(engine);
    }
    let engine = Arc::new(start(model, key.clone())?);
    loaded.push((key, Arc::downgrade(&engine)));
    Ok(engine)
}

/// Loads the model on a new worker thread and waits until it is ready.
fn start(model: &str, key: Key) -> Result<Engine, ModelError> {
    let err = |message: String| ModelError::Local {
        model: model.to_string(),
        message,
    };
    let backend = backend().map_err(|e| err(format!("cannot start llama.cpp: {e}")))?;
    let (jobs_tx, jobs_rx) = mpsc::channel::<(Job, Reply)>();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<ModelInfo, String>>(1);
    std::thread::Builder::new()
        .name(format!("llama-{model}"))
        .spawn(move || worker(backend, key, ready_tx, jobs_rx))
        .map_err(|e| err(format!("cannot start the model thread: {e}")))?;
    let info = ready_rx
        .recv()
        .map_err(|_| err("the model thread stopped while loading".into()))?
        .map_err(err)?;
    tracing::info!(
        model,
        load_ms = info.load_time.as_millis() as u64,
        context = info.context,
        "loaded local model"
    );
    Ok(Engine {
        jobs: Mutex::new(jobs_tx),
        info,
    })
}

fn worker(
    backend: &'static LlamaBackend,
    key: Key,
    ready: mpsc::SyncSender<Result<ModelInfo, String>>,
    jobs: mpsc::Receiver<(Job, Reply)>,
) {
    let started = Instant::now();
    let model = match LlamaModel::load_from_file(backend, &key.path, &LlamaModelParams::default()) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "llama.cpp could not load `{}` ({e}); set SIMBA_LLAMA_LOG=1 to see why",
                key.path.display()
            )));
            return;
        }
    };
    let context_train = model.n_ctx_train();
    let mut context = key.context.unwrap_or(DEFAULT_CONTEXT);
    if context_train > 0 {
        context = context.min(context_train);
    }
    let threads = i32::try_from(key.threads).unwrap_or(i32::MAX);
    // Each sequence of a batch gets a whole `context` of its own.
    let batch = key.batch.max(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(context.saturating_mul(batch)))
        .with_n_seq_max(batch)
        .with_n_batch(BATCH as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!("llama.cpp could not create a context: {e}")));
            return;
        }
    };
    let (template, own_template) = match model.chat_template(None) {
        Ok(t) => (t, true),
        Err(_) => match LlamaChatTemplate::new("chatml") {
            Ok(t) => (t, false),
            Err(e) => {
                let _ = ready.send(Err(format!("no chat template: {e}")));
                return;
            }
        },
    };
    let info = ModelInfo {
        context,
        context_train,
        load_time: started.elapsed(),
        own_template,
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let mut state = Worker {
        model: &model,
        ctx,
        template,
        cached: Vec::new(),
        prefix_cache: key.prefix_cache,
        batch: LlamaBatch::new(BATCH, 1),
        seq_context: context as usize,
    };
    while let Ok(first) = jobs.recv() {
        if batch > 1 {
            // Whatever else is queued right now joins the batch.
            let mut group = vec![first];
            while group.len() < batch as usize {
                match jobs.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            group.retain(|(_, reply)| !reply.is_closed());
            let results = state.run_batch(&group);
            for ((_, reply), result) in group.into_iter().zip(results) {
                let _ = reply.send(result);
            }
            continue;
        }
        let (job, reply) = first;
        // The caller gave up (timeout) while the job queued: skip it.
        if reply.is_closed() {
            continue;
        }
        let result = state.run(&job, || reply.is_closed());
        let _ = reply.send(result);
    }
}

/// One request while it generates (alone, or as one sequence of a batch).
struct Sequence {
    /// Index in the batch's group, also its llama.cpp sequence id (0 alone).
    slot: usize,
    sampler: LlamaSampler,
    stop: Option<&'static str>,
    prompt_tokens: u64,
    budget: u32,
    /// Position of the next token in the sequence.
    pos: i32,
    /// Sampled but not yet decoded; None once the reply is complete.
    pending: Option<LlamaToken>,
    bytes: Vec<u8>,
    generated: u32,
}

impl Sequence {
    /// A request whose prompt (`prompt_len` tokens) is decoded and whose
    /// first token is not sampled yet (see [`Sequence::start`]).
    fn new(
        slot: usize,
        job: &Job,
        sampler: LlamaSampler,
        prompt_len: usize,
        context: usize,
    ) -> Self {
        Sequence {
            slot,
            sampler,
            stop: job.stop,
            prompt_tokens: prompt_len as u64,
            budget: job.max_tokens.min((context - prompt_len) as u32),
            pos: prompt_len as i32,
            pending: None,
            bytes: Vec::new(),
            generated: 0,
        }
    }

    /// Samples the first token from the prompt's logits at batch index `idx`
    /// (nothing when the budget is 0).
    fn start(
        &mut self,
        ctx: &LlamaContext<'_>,
        idx: i32,
        vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
    ) {
        if self.budget > 0 {
            let token = self.sampler.sample(ctx, idx);
            self.accept(token, vocab);
        }
    }

    /// Takes a sampled token: ends the reply at end-of-generation, the stop
    /// text or the budget (the same rules as a lone request).
    fn accept(&mut self, token: LlamaToken, vocab: &llama_cpp_2::vocab::LlamaVocab<'_>) {
        self.pending = None;
        if vocab.is_eog(token) {
            return;
        }
        self.generated += 1;
        self.bytes.extend(vocab.token_to_piece(token, false, None));
        let stopped = self
            .stop
            .is_some_and(|stop| ends_with_stop(&self.bytes, stop));
        if !stopped && self.generated < self.budget {
            self.pending = Some(token);
        }
    }

    fn output(&self) -> Output {
        Output {
            text: String::from_utf8_lossy(&self.bytes).into_owned(),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: u64::from(self.generated),
            reused_tokens: 0,
        }
    }
}

/// The worker thread's state between jobs.
struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: LlamaChatTemplate,
    /// The tokens whose keys and values are in the KV cache, in order.
    cached: Vec<LlamaToken>,
    prefix_cache: bool,
    batch: LlamaBatch<'static>,
    /// The context window of one sequence (tokens).
    seq_context: usize,
}

impl Worker<'_> {
    /// Forgets the KV cache (after a failed decode its state is unknown).
    fn reset(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    fn decode(&mut self) -> Result<(), String> {
        self.ctx.decode(&mut self.batch).map_err(|e| {
            self.reset();
            format!("llama.cpp decode failed: {e}")
        })
    }

    /// Reads the prompt into the KV cache, reusing the common prefix with
    /// what is cached. Returns how many prompt tokens were reused.
    fn read_prompt(&mut self, tokens: &[LlamaToken]) -> Result<usize, String> {
        let mut keep = if self.prefix_cache {
            self.cached
                .iter()
                .zip(tokens)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            0
        };
        // The last prompt token is always decoded again: its logits start
        // the reply.
        keep = keep.min(tokens.len() - 1);
        if keep < self.cached.len() {
            let removed = u32::try_from(keep)
                .ok()
                .and_then(|p0| self.ctx.clear_kv_cache_seq(Some(0), Some(p0), None).ok())
                .unwrap_or(false);
            if removed {
                self.cached.truncate(keep);
            } else {
                // Some architectures cannot drop a suffix; start over.
                self.reset();
                keep = 0;
            }
        }
        self.decode_prompt(tokens, keep, 0)?;
        self.cached.extend_from_slice(&tokens[keep..]);
        Ok(keep)
    }

    /// Decodes `tokens[from..]` into sequence `seq`, asking for the logits
    /// of the last token only (they start the reply).
    fn decode_prompt(
        &mut self,
        tokens: &[LlamaToken],
        from: usize,
        seq: i32,
    ) -> Result<(), String> {
        let last = tokens.len() - 1;
        // llama.cpp may lower the batch size below ours (small contexts).
        let chunk = (self.ctx.n_batch() as usize).clamp(1, BATCH);
        let mut start = from;
        while start < tokens.len() {
            let end = (start + chunk).min(tokens.len());
            self.batch.clear();
            for (i, &token) in tokens.iter().enumerate().take(end).skip(start) {
                self.batch
                    .add(token, i as i32, &[seq], i == last)
                    .map_err(|e| e.to_string())?;
            }
            self.decode()?;
            start = end;
        }
        Ok(())
    }

    fn sampler(&self, job: &Job) -> Result<LlamaSampler, String> {
        let mut chain = Vec::with_capacity(6);
        if let Some(grammar) = &job.grammar {
            // First in the chain: it must see every token, or the later
            // filters could leave only tokens the grammar rejects.
            chain.push(
                LlamaSampler::grammar(self.model, grammar, "root")
                    .map_err(|e| format!("llama.cpp rejected the output grammar: {e}"))?,
            );
        }
        if job.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            let s = job.sampling;
            if s.top_k > 0 {
                chain.push(LlamaSampler::top_k(
                    i32::try_from(s.top_k).unwrap_or(i32::MAX),
                ));
            }
            if s.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(s.top_p, 1));
            }
            if s.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(s.min_p, 1));
            }
            chain.push(LlamaSampler::temp(job.temperature));
            chain.push(LlamaSampler::dist(job.seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }

    /// The job's prompt as tokens, checked against one sequence's context.
    fn prompt_tokens(&self, job: &Job) -> Result<Vec<LlamaToken>, String> {
        let chat = job
            .messages
            .iter()
            .map(|(role, content)| LlamaChatMessage::new(role.clone(), content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a message cannot be passed to llama.cpp: {e}"))?;
        // Copied out so the vocabulary borrows the model, not `self`.
        let model = self.model;
        let prompt = model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| format!("the chat template failed: {e}"))?;
        let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
        let context = self.seq_context;
        if tokens.is_empty() {
            return Err("the prompt is empty".into());
        }
        if tokens.len() >= context {
            return Err(format!(
                "the prompt is {} tokens, which does not fit the context of {context} tokens \
                 (raise the item's `context`; this model was trained on {})",
                tokens.len(),
                self.model.n_ctx_train()
            ));
        }
        Ok(tokens)
    }

    fn run(&mut self, job: &Job, cancelled: impl Fn() -> bool) -> Result<Output, String> {
        let tokens = self.prompt_tokens(job)?;
        let model = self.model;
        let vocab = model.vocab();
        let reused = self.read_prompt(&tokens)?;
        let sampler = self.sampler(job)?;
        let mut seq = Sequence::new(0, job, sampler, tokens.len(), self.seq_context);
        seq.start(&self.ctx, self.batch.n_tokens() - 1, &vocab);
        while let Some(token) = seq.pending {
            if seq.generated % CANCEL_CHECK_EVERY == 0 && cancelled() {
                return Err("abandoned: the caller stopped waiting".into());
            }
            self.batch.clear();
            self.batch
                .add(token, seq.pos, &[0], true)
                .map_err(|e| e.to_string())?;
            self.decode()?;
            self.cached.push(token);
            seq.pos += 1;
            let next = seq.sampler.sample(&self.ctx, 0);
            seq.accept(next, &vocab);
        }
        Ok(Output {
            reused_tokens: reused as u64,
            ..seq.output()
        })
    }

    /// Runs a group of jobs together, one sequence each; a result per job,
    /// in order. The KV cache starts and ends empty.
    fn run_batch(&mut self, group: &[(Job, Reply)]) -> Vec<Result<Output, String>> {
        self.reset();
        let model = self.model;
        let vocab = model.vocab();
        let mut results: Vec<Option<Result<Output, String>>> = vec![None; group.len()];
        let mut seqs: Vec<Sequence> = Vec::with_capacity(group.len());
        // Prompts one sequence at a time: each first token is sampled before
        // the next prompt's decode overwrites the logits.
        for (slot, (job, _)) in group.iter().enumerate() {
            let started = self.prompt_tokens(job).and_then(|tokens| {
                let sampler = self.sampler(job)?;
                self.decode_prompt(&tokens, 0, slot as i32)?;
                Ok((tokens, sampler))
            });
            let (tokens, sampler) = match started {
                Ok(s) => s,
                Err(e) => {
                    results[slot] = Some(Err(e));
                    continue;
                }
            };
            let mut seq = Sequence::new(slot, job, sampler, tokens.len(), self.seq_context);
            seq.start(&self.ctx, self.batch.n_tokens() - 1, &vocab);
            seqs.push(seq);
        }
        let mut steps = 0u32;
        loop {
            let active: Vec<usize> = (0..seqs.len())
                .filter(|&i| seqs[i].pending.is_some())
                .collect();
            if active.is_empty() {
                break;
            }
            steps += 1;
            if steps % CANCEL_CHECK_EVERY == 0 {
                for &i in &active {
                    if group[seqs[i].slot].1.is_closed() {
                        seqs[i].pending = None;
                    }
                }
            }
            self.batch.clear();
            let mut in_batch = Vec::with_capacity(active.len());
            for &i in &active {
                let seq = &mut seqs[i];
                let Some(token) = seq.pending else { continue };
                if let Err(e) = self.batch.add(token, seq.pos, &[seq.slot as i32], true) {
                    results[seq.slot] = Some(Err(e.to_string()));
                    seq.pending = None;
                    continue;
                }
                seq.pos += 1;
                in_batch.push(i);
            }
            if let Err(e) = self.decode() {
                for &i in &in_batch {
                    results[seqs[i].slot] = Some(Err(e.clone()));
                    seqs[i].pending = None;
                }
                break;
            }
            for (index, &i) in in_batch.iter().enumerate() {
                let token = seqs[i].sampler.sample(&self.ctx, index as i32);
                seqs[i].accept(token, &vocab);
            }
        }
        for seq in &seqs {
            results[seq.slot].get_or_insert_with(|| Ok(seq.output()));
        }
        self.reset();
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("the batch ended without a reply".into())))
            .collect()
    }
}

/// Whether the stop text appears in the reply's tail (a token may carry
/// characters past it, so a plain suffix test would miss it).
fn ends_with_stop(bytes: &[u8], stop: &str) -> bool {
    let window = stop.len() + 16;
    let tail = &bytes[bytes.len().saturating_sub(window)..];
    tail.windows(stop.len()).any(|w| w == stop.as_bytes())
}
