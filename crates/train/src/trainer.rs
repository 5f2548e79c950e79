//! The training loop of the official `train.py`, for every method.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use iterand_data::{batch_order, Batch, Compose, Loader, Splits, Transform, Transforms, View};
use iterand_masking::{ParamStore, Role, MAX_GENERATION};
use iterand_models::{InputShape, Network, ParamCounts};
use iterand_randomizer::{RerandSchedule, Rerandomizer};

use crate::checkpoint::{
    CheckpointInfo, Checkpointer, Position, Streams, BEST, FORMAT, LAST, MOMENTUM_PREFIX,
};
use crate::config::TrainConfig;
use crate::dynamics::MaskDynamics;
use crate::metrics::{
    EpochRecord, EvalRecord, Histogram, HistogramsRecord, LayerStats, MaskRecord, MetricsLine,
    StepRecord, Summary,
};
use crate::progress::{Progress, Reporter, Where};
use crate::run_dir::{Resume, RunDir};
use crate::sgd::Sgd;
use crate::{Error, Result};

/// Number of correct predictions in a batch.
fn correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred
        .eq(labels)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize)
}

/// Accuracy in percent of `net` on `data` seen through `transform`, in evaluation mode, in
/// batches of `batch` built by `loader`.
pub fn evaluate(
    net: &dyn Network,
    data: &View,
    transform: &Compose,
    batch: usize,
    loader: Loader,
    device: &Device,
) -> Result<f64> {
    if data.is_empty() {
        return Ok(f64::NAN);
    }
    let idx: Vec<u32> = (0..data.len() as u32).collect();
    let batches = idx.chunks(batch).map(<[u32]>::to_vec).collect();
    let mut right = 0;
    for b in loader.iter(data.clone(), Arc::new(transform.clone()), batches, 0, 0) {
        let (x, y) = b?.to_tensors(device)?;
        let logits = net.forward_t(&x, false)?.detach();
        right += correct(&logits, &y)?;
    }
    Ok(100.0 * right as f64 / data.len() as f64)
}

/// How a run is driven, beyond its config (none of this changes what it computes).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run folder; `None` trains without writing anything.
    pub out: Option<PathBuf>,
    pub progress: Progress,
    /// What to do when `out` already holds a run.
    pub resume: Resume,
    /// Set (by a Ctrl-C handler) to stop after the current step with a checkpoint.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Stop with a checkpoint once this many optimizer steps are done, as an interrupt would.
    pub stop_at_iteration: Option<u64>,
    /// Also write the loss to `metrics.jsonl` every this many optimizer steps.
    pub log_every: Option<u64>,
    /// Also write the validation and test accuracy to `metrics.jsonl` every this many steps.
    pub eval_every: Option<u64>,
    /// And after each of these steps (points of a curve that `eval_every` would miss, such as
    /// the step before an epoch's remainder batch).
    pub eval_at: Vec<u64>,
    /// How batches are built (worker threads, prefetch); the batches are the same for any.
    pub loader: Loader,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            out: None,
            progress: Progress::Quiet,
            resume: Resume::Never,
            interrupt: None,
            stop_at_iteration: None,
            log_every: None,
            eval_every: None,
            eval_at: Vec::new(),
            loader: Loader::default(),
        }
    }
}

/// Train one run as `config` says on `splits`; write the run folder at `out` if given
/// (starting over if it holds an earlier run).
pub fn train(
    config: &TrainConfig,
    splits: &Splits,
    device: &Device,
    out: Option<&Path>,
    progress: Progress,
) -> Result<Summary> {
    train_with(
        config,
        splits,
        device,
        &RunOptions {
            out: out.map(Path::to_path_buf),
            progress,
            ..RunOptions::default()
        },
    )
}

/// Where the run folder leaves us: a new run, one to continue, or one already done.
enum Start {
    Fresh(Option<RunDir>),
    Continue(RunDir, CheckpointInfo, HashMap<String, Tensor>),
    Done(Summary),
}

fn open_run(config: &TrainConfig, opts: &RunOptions, device: &Device) -> Result<Start> {
    let Some(out) = &opts.out else {
        return Ok(Start::Fresh(None));
    };
    RunDir::ensure_writable(out)?;
    let existing = RunDir::existing(out);
    let Some(old) = existing.config()? else {
        return Ok(Start::Fresh(Some(RunDir::create(out, config)?)));
    };
    match opts.resume {
        Resume::Never => Ok(Start::Fresh(Some(RunDir::create(out, config)?))),
        Resume::Refuse => Err(Error::RunExists { path: out.clone() }),
        Resume::Auto => {
            let diff = old.diff(config)?;
            if !diff.is_empty() {
                return Err(Error::ConfigMismatch {
                    path: out.clone(),
                    keys: diff.join(", "),
                });
            }
            if let Some(summary) = existing.summary()? {
                return Ok(Start::Done(summary));
            }
            match Checkpointer::new(out).load_resumable(device)? {
                None => Ok(Start::Fresh(Some(RunDir::create(out, config)?))),
                Some((info, tensors)) => {
                    if info.config_hash != config.hash()? {
                        return Err(Error::Corrupt {
                            path: Checkpointer::new(out).dir().join("last.json"),
                            why: format!(
                                "its config hash {} is not the folder's config.toml",
                                info.config_hash
                            ),
                        });
                    }
                    existing.truncate_metrics(info.position.metrics_lines)?;
                    Ok(Start::Continue(existing, info, tensors))
                }
            }
        }
    }
}

/// Put the checkpoint's tensors into the model's variables and the optimizer's buffers.
fn restore(
    store: &ParamStore,
    names: &[String],
    opt: &mut Sgd,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    randomizations: u32,
) -> Result<()> {
    load_variables(store, tensors, path, randomizations)?;
    for (i, name) in names.iter().enumerate() {
        opt.set_buffer(i, tensors.get(&format!("{MOMENTUM_PREFIX}{name}")).cloned());
    }
    Ok(())
}

/// Put a checkpoint's tensors (read from `path`, which errors name) into every variable of a
/// freshly built model's store. A checkpoint from before generations were recorded is accepted
/// only if R had never fired (`randomizations == 0`): then they are all 0, as built.
pub fn load_variables(
    store: &ParamStore,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    randomizations: u32,
) -> Result<()> {
    let vars = store.varmap().data().lock().unwrap().clone();
    let generations: Vec<String> = store
        .by_role(Role::Generation)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for (name, var) in vars {
        let Some(t) = tensors.get(&name) else {
            if generations.contains(&name) && randomizations == 0 {
                continue;
            }
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                why: format!("no tensor `{name}` (was it saved by another model, or before R's generations were recorded?)"),
            });
        };
        if t.dims() != var.dims() {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                why: format!(
                    "tensor `{name}` has shape {:?}, the model {:?}",
                    t.dims(),
                    var.dims()
                ),
            });
        }
        var.set(t)?;
    }
    Ok(())
}

/// Restore a checkpoint (`restore`) and say where the run continues.
fn resume(
    store: &ParamStore,
    names: &[String],
    opt: &mut Sgd,
    info: &CheckpointInfo,
    tensors: &HashMap<String, Tensor>,
    ck: &Checkpointer,
) -> Result<Position> {
    let path = ck.dir().join(&info.tensors);
    restore(
        store,
        names,
        opt,
        tensors,
        &path,
        info.position.randomizations,
    )?;
    let pos = info.position.clone();
    tracing::info!(
        "resuming {} at epoch {}, batch {} (iteration {}, {} randomizations)",
        ck.dir().display(),
        pos.epoch + 1,
        pos.step,
        pos.iteration,
        pos.randomizations
    );
    Ok(pos)
}

/// Every tensor a checkpoint holds.
fn snapshot(store: &ParamStore, names: &[String], opt: &Sgd) -> HashMap<String, Tensor> {
    let mut out: HashMap<String, Tensor> = store
        .varmap()
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    for (name, b) in names.iter().zip(opt.buffers()) {
        if let Some(b) = b {
            out.insert(format!("{MOMENTUM_PREFIX}{name}"), b.detach());
        }
    }
    out
}

/// Train one run as `config` says on `splits`, as `opts` says.
///
/// Order of events per step, as the official code: R fires (if due) before the batch, with the
/// masks of the current scores; then forward, loss, backward and one SGD step. The learning
/// rate is set at each epoch's start. Test accuracy is that of the last-epoch model. A
/// checkpoint is saved after every epoch and when stopped; a resumed run computes exactly what
/// the uninterrupted one would have.
pub fn train_with(
    config: &TrainConfig,
    splits: &Splits,
    device: &Device,
    opts: &RunOptions,
) -> Result<Summary> {
    config.validate()?;
    let start = Instant::now();
    let (run_dir, resumed) = match open_run(config, opts, device)? {
        Start::Done(summary) => return Ok(summary),
        Start::Fresh(dir) => (dir, None),
        Start::Continue(dir, info, tensors) => (Some(dir), Some((info, tensors))),
    };
    let transforms = config.transforms(splits)?;
    let env = Env {
        config,
        splits,
        transforms: &transforms,
        device,
        opts,
    };
    let mut run = Run::new(env, run_dir, resumed, start)?;
    while run.pos.epoch < config.epochs {
        run.epoch()?;
    }
    run.finish()
}

/// The network's input: what the training pipeline makes of the dataset's images, which the
/// evaluation pipeline must make too.
fn input_shape(env: Env<'_>) -> Result<InputShape> {
    let stored = env.splits.train.shape();
    let (train, eval) = (
        env.transforms.train.output_shape(stored),
        env.transforms.eval.output_shape(stored),
    );
    if train != eval {
        return Err(Error::InvalidConfig {
            name: "augment".into(),
            value: env.config.augment.to_string(),
            why: format!("training images would be {train:?} but evaluated ones {eval:?}"),
        });
    }
    Ok(InputShape {
        channels: train.channels,
        height: train.height,
        width: train.width,
    })
}

/// The mask dynamics of `net` (score mode only), counting recycled copies when R recycles,
/// restored from the checkpoint a resumed run continues.
fn dynamics_for(
    net: &dyn Network,
    r: Option<&Rerandomizer>,
    resumed: &Resumed,
) -> Result<Option<MaskDynamics>> {
    let recycles = r.is_some_and(|r| r.recycle_rate().is_some());
    let mut dynamics = MaskDynamics::new(net, recycles)?;
    if let (Some(d), Some((_, tensors))) = (&mut dynamics, resumed) {
        d.restore(tensors)?;
    }
    Ok(dynamics)
}

/// Refuse, before training, an epoch-unit frequency above the steps of an epoch and more rounds
/// of R than a generation records.
fn check_rounds(
    config: &TrainConfig,
    sched: &RerandSchedule,
    steps_per_epoch: usize,
) -> Result<()> {
    sched.period(steps_per_epoch as u64)?;
    let rounds = sched.count(config.epochs as u64, steps_per_epoch as u64);
    if rounds > MAX_GENERATION as u64 {
        return Err(Error::InvalidConfig {
            name: "rerand_freq".into(),
            value: config.rerand_freq.to_string(),
            why: format!(
                "{rounds} randomizations; a weight's generation records at most {MAX_GENERATION}"
            ),
        });
    }
    Ok(())
}

/// What the network reads (for tickets) and where this part of the run trains.
fn record_start(d: &RunDir, env: Env<'_>, input: InputShape, step: u64) -> Result<()> {
    d.write_network(&crate::run_dir::NetworkIo {
        input,
        classes: env.splits.train.classes(),
    })?;
    d.record_session(&crate::run_dir::Session {
        from_step: step,
        device: crate::run_dir::device_name(env.device),
        threads: rayon::current_num_threads(),
        decoder: iterand_data::jpeg::DECODER.into(),
    })
}

/// What a run reads and never changes.
#[derive(Clone, Copy)]
struct Env<'a> {
    config: &'a TrainConfig,
    splits: &'a Splits,
    /// The dataset's pipelines as this config sets them up (padding, augmentation).
    transforms: &'a Transforms,
    device: &'a Device,
    opts: &'a RunOptions,
}

/// A run in progress: the model and its optimizer, where the run stands, where it writes.
struct Run<'a> {
    env: Env<'a>,
    store: ParamStore,
    net: Box<dyn Network>,
    /// The trainable variables' names, in the optimizer's order.
    names: Vec<String>,
    opt: Sgd,
    pos: Position,
    run_dir: Option<RunDir>,
    checkpointer: Option<Checkpointer>,
    hash: String,
    start: Instant,
    /// Wall time of the earlier parts of a resumed run.
    resumed_elapsed: f64,
    rerand: Option<(Rerandomizer, RerandSchedule)>,
    steps_per_epoch: usize,
    reporter: Reporter,
    /// Weights and kept weights of the model (fixed by its shape and sparsity).
    counts: ParamCounts,
    /// The mask's dynamics (score-training runs).
    dynamics: Option<MaskDynamics>,
}

type Resumed = Option<(CheckpointInfo, HashMap<String, Tensor>)>;

/// A stop asked for at or before where the run already is would train nothing: refused.
fn check_stop(env: Env<'_>, pos: &Position) -> Result<()> {
    match env.opts.stop_at_iteration.filter(|&s| s <= pos.iteration) {
        Some(stop) => Err(Error::StopBehind {
            path: env.opts.out.clone().unwrap_or_default(),
            stop,
            done: pos.iteration,
        }),
        None => Ok(()),
    }
}

/// Each masked layer's shape, for `--verbose` logs.
fn log_layers(net: &dyn Network) {
    for m in net.masked() {
        tracing::debug!(
            "layer {} {:?}: {} weights",
            m.path(),
            m.weight().dims(),
            m.numel()
        );
    }
}

impl<'a> Run<'a> {
    /// Build the model and optimizer, and put a resumed run back where it stopped.
    fn new(
        env: Env<'a>,
        run_dir: Option<RunDir>,
        resumed: Resumed,
        start: Instant,
    ) -> Result<Self> {
        let Env { config, splits, .. } = env;
        let checkpointer = run_dir.as_ref().map(|d| Checkpointer::new(d.path()));
        let input = input_shape(env)?;
        let (store, net) = config.build_network(input, splits.train.classes(), env.device)?;
        let (names, vars): (Vec<String>, Vec<_>) = store.trainable().into_iter().unzip();
        let mut opt = Sgd::new(vars, config.sgd());
        let pos = match (&resumed, &checkpointer) {
            (Some((info, tensors)), Some(ck)) => {
                resume(&store, &names, &mut opt, info, tensors, ck)?
            }
            _ => Position::default(),
        };
        check_stop(env, &pos)?;
        log_layers(net.as_ref());
        let full_steps = splits.train.len().div_ceil(config.batch_size);
        let steps_per_epoch = config
            .limit_batches
            .map_or(full_steps, |l| l.min(full_steps));
        let rerand = config.rerandomization()?;
        if let Some((_, sched)) = &rerand {
            check_rounds(config, sched, steps_per_epoch)?;
        }
        if let Some(d) = &run_dir {
            record_start(d, env, input, pos.iteration)?;
        }
        let net_counts = net.param_counts();
        let dynamics = dynamics_for(net.as_ref(), rerand.as_ref().map(|(r, _)| r), &resumed)?;
        let total = (steps_per_epoch * config.epochs) as u64;
        let observer = env.opts.progress.observer(env.opts.out.as_deref());
        let reporter = Reporter::new(observer, pos.iteration, total);
        Ok(Self {
            env,
            store,
            net,
            names,
            opt,
            resumed_elapsed: pos.elapsed_seconds,
            pos,
            run_dir,
            checkpointer,
            hash: config.hash()?,
            start,
            rerand,
            steps_per_epoch,
            reporter,
            counts: net_counts,
            dynamics,
        })
    }

    /// The rest of the current epoch (all of it unless resumed mid-way), then its evaluation
    /// and checkpoint.
    fn epoch(&mut self) -> Result<()> {
        let config = self.env.config;
        let epoch = self.pos.epoch;
        let t0 = Instant::now();
        let lr = config.schedule().at(epoch);
        self.opt.set_learning_rate(lr);
        let order = batch_order(self.env.splits.train.len(), config.seed, epoch as u64);
        let batches: Vec<Vec<u32>> = order
            .chunks(config.batch_size)
            .take(self.steps_per_epoch)
            .skip(self.pos.step)
            .map(<[u32]>::to_vec)
            .collect();
        let train = self.env.splits.train.clone();
        let transform = Arc::new(self.env.transforms.train.clone());
        let loader = self.env.opts.loader;
        let mut batches = loader.iter(train, transform, batches, config.seed, epoch as u64);
        let (t_train, mut waited) = (Instant::now(), 0.0);
        // one batch per remaining step, in order, numbered from where the epoch resumes
        for step in self.pos.step.. {
            let wait = Instant::now();
            let Some(batch) = batches.next() else { break };
            let (w, batch) = (wait.elapsed().as_secs_f64(), batch?);
            waited += w;
            let n = batch.len();
            self.step(epoch, step, batch, lr)?;
            let at = Where {
                epoch,
                epochs: config.epochs,
                step: step + 1,
                steps: self.steps_per_epoch,
                loss: self.pos.loss_sum / self.pos.seen.max(1) as f64,
                acc: 100.0 * self.pos.correct as f64 / self.pos.seen.max(1) as f64,
            };
            self.reporter.step(n, w, &at);
            self.stop_if_asked(t0)?;
        }
        let wait_share = waited / t_train.elapsed().as_secs_f64().max(1e-9);
        self.end_epoch(epoch, lr, t0, wait_share)
    }

    /// R if due, then one SGD step on the batch `idx`, and its metrics lines if asked for.
    fn step(&mut self, epoch: usize, step: usize, batch: Batch, lr: f64) -> Result<()> {
        if let Some((r, sched)) = &self.rerand {
            if sched.fires(self.pos.iteration, self.steps_per_epoch as u64) {
                self.pos.randomizations += 1;
                self.net.rerandomize(self.pos.randomizations, r)?;
                if let Some(d) = &mut self.dynamics {
                    d.after_rerand(self.net.as_ref(), self.pos.randomizations, r)?;
                }
            }
        }
        let n = batch.len();
        let (x, y) = batch.to_tensors(self.env.device)?;
        let logits = self.net.forward_t(&x, true)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        let l = loss.to_scalar::<f32>()?;
        if !l.is_finite() {
            return Err(Error::NonFiniteLoss {
                value: l,
                epoch,
                step,
            });
        }
        let grads = loss.backward()?;
        self.opt.step(&grads)?;
        let batch_right = correct(&logits.detach(), &y)?;
        let pos = &mut self.pos;
        pos.loss_sum += l as f64 * n as f64;
        pos.correct += batch_right;
        pos.seen += n;
        pos.iteration += 1;
        pos.step = step + 1;
        let opts = self.env.opts;
        if opts.log_every.is_some_and(|k| self.pos.iteration % k == 0) {
            let line = MetricsLine::Step(StepRecord {
                epoch,
                iteration: self.pos.iteration,
                lr,
                loss: l as f64,
                batch_acc: 100.0 * batch_right as f64 / n as f64,
                randomizations: self.pos.randomizations as u64,
            });
            self.append(line)?;
        }
        let it = self.pos.iteration;
        if opts.eval_every.is_some_and(|k| it % k == 0) || opts.eval_at.contains(&it) {
            let line = MetricsLine::Eval(EvalRecord {
                epoch,
                iteration: it,
                val_acc: self.evaluate(&self.env.splits.val)?,
                test_acc: self.evaluate(&self.env.splits.test)?,
            });
            self.append(line)?;
        }
        Ok(())
    }

    /// On an interrupt or at the step asked for: a checkpoint mid-epoch, and the run stops.
    fn stop_if_asked(&self, epoch_start: Instant) -> Result<()> {
        let opts = self.env.opts;
        let interrupted = opts
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        if !interrupted && opts.stop_at_iteration != Some(self.pos.iteration) {
            return Ok(());
        }
        let mid = Position {
            epoch_seconds: self.pos.epoch_seconds + epoch_start.elapsed().as_secs_f64(),
            ..self.pos.clone()
        };
        self.save(LAST, &mid)?;
        self.reporter.finish();
        Err(Error::Interrupted {
            path: self
                .checkpointer
                .as_ref()
                .map_or_else(PathBuf::new, |c| c.dir().to_path_buf()),
            iteration: self.pos.iteration,
        })
    }

    /// Validation, the epoch's metrics line, and the `last` (and maybe `best`) checkpoint.
    fn end_epoch(&mut self, epoch: usize, lr: f64, t0: Instant, data_wait: f64) -> Result<()> {
        let val_acc = self.evaluate(&self.env.splits.val)?;
        let improved = self.pos.best_val_acc.is_none_or(|b| val_acc > b);
        if improved {
            self.pos.best_val_acc = Some(val_acc);
        }
        self.pos.val_acc = Some(val_acc);
        let pos = &self.pos;
        let seconds = pos.epoch_seconds + t0.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            lr,
            train_loss: pos.loss_sum / pos.seen as f64,
            train_acc: 100.0 * pos.correct as f64 / pos.seen as f64,
            val_acc,
            kept_fraction: self.net.kept_now()? as f64 / self.counts.weights as f64,
            randomizations: pos.randomizations as u64,
            steps: pos.iteration,
            seconds,
            data_wait,
            images_per_second: pos.seen as f64 / seconds.max(1e-9),
        };
        self.reporter.epoch(&record, self.env.config.epochs);
        self.append(MetricsLine::Epoch(record))?;
        self.append_histograms(epoch)?;
        if let Some(d) = &mut self.dynamics {
            let layers = d.end_epoch(self.net.as_ref())?;
            let iteration = self.pos.iteration;
            self.append(MetricsLine::Mask(MaskRecord {
                epoch,
                iteration,
                layers,
            }))?;
        }
        self.pos = Position {
            epoch: epoch + 1,
            step: 0,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            epoch_seconds: 0.0,
            ..self.pos.clone()
        };
        self.save(LAST, &self.pos)?;
        match &self.checkpointer {
            Some(ck) if improved => ck.copy(LAST, BEST),
            _ => Ok(()),
        }
    }

    fn evaluate(&self, data: &View) -> Result<f64> {
        evaluate(
            self.net.as_ref(),
            data,
            &self.env.transforms.eval,
            self.env.config.eval_batch_size,
            self.env.opts.loader,
            self.env.device,
        )
    }

    /// Write a checkpoint of the model and optimizer standing at `pos` into `slot`.
    fn save(&self, slot: &str, pos: &Position) -> Result<()> {
        let Some(ck) = &self.checkpointer else {
            return Ok(());
        };
        let info = CheckpointInfo {
            format: FORMAT,
            config_hash: self.hash.clone(),
            tensors: String::new(),
            position: Position {
                elapsed_seconds: self.resumed_elapsed + self.start.elapsed().as_secs_f64(),
                ..pos.clone()
            },
            streams: Streams {
                seed: self.env.config.seed,
                data_epoch: pos.epoch,
                data_batch: pos.step,
                rerand_round: pos.randomizations,
            },
            tensors_sha256: None,
            checksum: None,
        };
        let mut tensors = snapshot(&self.store, &self.names, &self.opt);
        if let Some(d) = &self.dynamics {
            tensors.extend(d.tensors()?);
        }
        ck.save(slot, &tensors, &info)
    }

    /// The epoch's histograms line: per masked layer its scores (its weights when they are
    /// what trains) and, under R, its generations.
    fn append_histograms(&mut self, epoch: usize) -> Result<()> {
        if self.run_dir.is_none() {
            return Ok(());
        }
        let mut histograms = vec![];
        for m in self.net.masked() {
            let (what, var) = match m.scores() {
                Some(s) => ("scores", s),
                None => ("weights", m.weight()),
            };
            let v: Vec<f64> = var.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
            histograms.push(Histogram::of(format!("{what}/{}", m.path()), &v, 30));
            if let (Some(_), Some(g)) = (&self.rerand, m.generation_values()?) {
                let g: Vec<f64> = g.into_iter().map(f64::from).collect();
                let tag = format!("generations/{}", m.path());
                histograms.push(Histogram::of_integers(tag, &g));
            }
        }
        self.append(MetricsLine::Histograms(HistogramsRecord {
            epoch,
            iteration: self.pos.iteration,
            histograms,
        }))
    }

    fn append(&mut self, line: MetricsLine) -> Result<()> {
        if let Some(d) = &self.run_dir {
            d.append_metrics(&line)?;
            self.pos.metrics_lines += 1;
        }
        Ok(())
    }

    /// The test accuracy of the last-epoch model, and the summary (written to the run folder).
    fn finish(self) -> Result<Summary> {
        self.reporter.finish();
        let config = self.env.config;
        let test_acc = self.evaluate(&self.env.splits.test)?;
        let layers = self
            .net
            .masked()
            .iter()
            .map(|m| {
                Ok(LayerStats {
                    name: m.path().to_string(),
                    shape: m.weight().dims().to_vec(),
                    weights: m.numel(),
                    kept: m.kept()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let counts = self.counts;
        let summary = Summary {
            dataset: config.dataset.name().into(),
            model: config.model.name().into(),
            method: config.method.name().into(),
            width: config.width,
            sparsity: config.mask_config()?.effective_sparsity(),
            seed: config.seed,
            test_acc,
            val_acc: self.pos.val_acc.unwrap_or(f64::NAN),
            best_val_acc: self.pos.best_val_acc.unwrap_or(f64::NAN),
            kept_params: counts.kept,
            total_params: counts.weights,
            randomizations: self.pos.randomizations as u64,
            steps: self.pos.iteration,
            epochs: config.epochs,
            seconds: self.resumed_elapsed + self.start.elapsed().as_secs_f64(),
            config_hash: self.hash,
            device: crate::run_dir::device_name(self.env.device),
            layers,
        };
        if let Some(d) = &self.run_dir {
            d.write_summary(&summary)?;
        }
        Ok(summary)
    }
}
