//! Every file under `configs/` parses, every one is compiled into the binaries, and each paper
//! experiment's values are those of iterand-algorithm.md §2 (transcribed here by hand from the
//! tables, independently of the files).

use std::path::Path;

use iterand_models::Arch;
use iterand_randomizer::InitMode;
use iterand_runs::spec::{embedded, find, ExperimentFile};
use iterand_train::{DatasetName, Method, TrainConfig};

fn configs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

#[test]
fn every_file_parses_and_is_embedded() {
    let mut on_disk = vec![];
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let f = ExperimentFile::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            assert!(!f.description.is_empty(), "{}: no description", f.name);
            on_disk.push(f.name);
        }
    }
    on_disk.sort();
    let mut compiled: Vec<String> = embedded().into_iter().map(|f| f.name).collect();
    compiled.sort();
    assert_eq!(on_disk, compiled);
}

/// One row of §2's tables.
#[derive(Clone, Copy)]
struct Row {
    name: &'static str,
    model: Arch,
    method: Method,
    init: InitMode,
    lr: f64,
    wd: f64,
    p: f64,
    k_per: u64,
    r: f64,
}

fn check(row: &Row, c: &TrainConfig) {
    let n = row.name;
    assert_eq!(c.model, row.model, "{n}");
    assert_eq!(c.method, row.method, "{n}");
    assert_eq!(c.init_mode, row.init, "{n}");
    assert_eq!(c.lr, row.lr, "{n} lr");
    assert_eq!(c.weight_decay, row.wd, "{n} wd");
    assert_eq!(c.sparsity, row.p, "{n} p");
    if row.method == Method::Iterand {
        assert_eq!(c.rerand_freq, row.k_per, "{n} K_per");
        assert_eq!(c.rerand_lambda, row.r, "{n} r");
    }
    assert_eq!(
        (c.momentum, c.batch_size, c.eval_batch_size),
        (0.9, 128, 512),
        "{n}"
    );
    assert!(c.augment, "{n}: augmentation");
    assert!(
        !c.nesterov && c.init_mode_mask == InitMode::KaimingUniform,
        "{n}"
    );
}

/// The values of every run of `name` (all grid points), checked against `row`; returns the
/// grid's widths, seeds and r values.
fn runs_of(row: &Row) -> (Vec<f64>, Vec<u64>, Vec<f64>) {
    let (file, exp) = find(row.name).unwrap_or_else(|| panic!("{} missing", row.name));
    let runs = exp.runs(&toml::Table::new()).unwrap();
    let (mut w, mut s, mut r) = (vec![], vec![], vec![]);
    for run in &runs {
        let c = &run.config;
        check(
            &Row {
                r: c.rerand_lambda,
                ..*row
            },
            c,
        );
        if row.method == Method::Iterand && file.figure != Some(1) {
            assert_eq!(c.rerand_lambda, row.r, "{}", row.name);
        }
        w.push(c.width);
        s.push(c.seed);
        r.push(c.rerand_lambda);
    }
    for v in [&mut w, &mut r] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    s.sort();
    s.dedup();
    (w, s, r)
}

#[test]
fn cifar10_experiments_match_section_2_1() {
    use Arch::*;
    use InitMode::{KaimingUniform as Ku, SignedConstant as Sc};
    use Method::*;
    let row = |name, model, method, init, lr, wd, p, r| Row {
        name,
        model,
        method,
        init,
        lr,
        wd,
        p,
        k_per: 300,
        r,
    };
    // Figure 1: width 1, r ∈ {0, 0.01, 0.1, 1}, seeds 1–3.
    for r1 in [
        row(
            "figure1_conv6_ku_iterand",
            Conv6,
            Iterand,
            Ku,
            0.3,
            1e-4,
            0.5,
            0.1,
        ),
        row(
            "figure1_resnet18_ku_iterand",
            Resnet18,
            Iterand,
            Ku,
            0.1,
            5e-4,
            0.6,
            0.1,
        ),
        row(
            "figure1_resnet34_ku_iterand",
            Resnet34,
            Iterand,
            Ku,
            0.1,
            5e-4,
            0.6,
            0.1,
        ),
    ] {
        let (w, s, r) = runs_of(&r1);
        assert_eq!(w, [1.0]);
        assert_eq!(s, [1, 2, 3]);
        assert_eq!(r, [0.0, 0.01, 0.1, 1.0]);
    }
    // Figure 2: widths {0.25, 0.5, 1, 2}, seeds 1–3.
    let mut rows = vec![];
    for (m, model, lr, wd, p, sgd_lr) in [
        ("conv6", Conv6, 0.3, 1e-4, 0.5, 0.01),
        ("resnet18", Resnet18, 0.1, 5e-4, 0.6, 0.1),
        ("resnet34", Resnet34, 0.1, 5e-4, 0.6, 0.1),
    ] {
        let name = |s: &str| -> &'static str { Box::leak(format!("figure2_{m}_{s}").into()) };
        rows.push(row(name("ku_sgd"), model, Sgd, Ku, sgd_lr, wd, 0.0, 0.0));
        rows.push(row(
            name("ku_edgepopup"),
            model,
            EdgePopup,
            Ku,
            lr,
            wd,
            p,
            0.0,
        ));
        rows.push(row(
            name("sc_edgepopup"),
            model,
            EdgePopup,
            Sc,
            lr,
            wd,
            p,
            0.0,
        ));
        rows.push(row(name("ku_iterand"), model, Iterand, Ku, lr, wd, p, 0.1));
        rows.push(row(name("sc_iterand"), model, Iterand, Sc, lr, wd, p, 0.1));
    }
    for r2 in &rows {
        let (w, s, _) = runs_of(r2);
        assert_eq!(w, [0.25, 0.5, 1.0, 2.0], "{}", r2.name);
        assert_eq!(s, [1, 2, 3], "{}", r2.name);
    }
    // The single-run examples: seed 1, width 1, p 0.6, K_per 300, r 0.1, wd 5e-4, lr 0.1.
    for r3 in [
        row(
            "cifar10_resnet18_ku_sgd",
            Resnet18,
            Sgd,
            Ku,
            0.1,
            5e-4,
            0.0,
            0.0,
        ),
        row(
            "cifar10_resnet18_sc_edgepopup",
            Resnet18,
            EdgePopup,
            Sc,
            0.1,
            5e-4,
            0.6,
            0.0,
        ),
        row(
            "cifar10_resnet18_sc_iterand",
            Resnet18,
            Iterand,
            Sc,
            0.1,
            5e-4,
            0.6,
            0.1,
        ),
    ] {
        let (w, s, _) = runs_of(&r3);
        assert_eq!((w, s), (vec![1.0], vec![1]), "{}", r3.name);
    }
    for f in embedded() {
        for e in &f.experiments {
            for run in e.runs(&toml::Table::new()).unwrap() {
                if run.config.dataset == DatasetName::Cifar10 {
                    assert_eq!((run.config.epochs, run.config.warmup_epochs), (100, 0));
                    assert_eq!(run.config.finetune_epochs, 0);
                }
            }
        }
    }
}

#[test]
fn imagenet_experiments_match_section_2_2() {
    use Arch::*;
    use InitMode::{KaimingUniform as Ku, SignedConstant as Sc};
    use Method::*;
    let row = |name, model, method, init, p| Row {
        name,
        model,
        method,
        init,
        lr: 0.1,
        wd: 1e-4,
        p,
        k_per: 1000,
        r: 0.1,
    };
    for r in [
        row("figure3_resnet18_ku_sgd", Resnet18, Sgd, Ku, 0.0),
        row("figure3_resnet34_ku_sgd", Resnet34, Sgd, Ku, 0.0),
        row(
            "figure3_resnet34_sc_edgepopup",
            Resnet34,
            EdgePopup,
            Sc,
            0.7,
        ),
        row(
            "figure3_resnet50_sc_edgepopup",
            Resnet50,
            EdgePopup,
            Sc,
            0.7,
        ),
        row(
            "figure3_resnet101_sc_edgepopup",
            Resnet101,
            EdgePopup,
            Sc,
            0.7,
        ),
        row("figure3_resnet34_sc_iterand", Resnet34, Iterand, Sc, 0.7),
        row("figure3_resnet50_sc_iterand", Resnet50, Iterand, Sc, 0.7),
        row("figure3_resnet101_sc_iterand", Resnet101, Iterand, Sc, 0.7),
    ] {
        let (w, s, _) = runs_of(&r);
        assert_eq!((w, s), (vec![1.0], vec![1]), "{}", r.name);
        let c = find(r.name).unwrap().1.config(&toml::Table::new()).unwrap();
        assert_eq!(c.dataset, DatasetName::Imagenet);
        assert_eq!(
            (c.epochs, c.warmup_epochs, c.finetune_epochs, c.finetune_lr),
            (105, 5, 5, 1e-5),
            "{}",
            r.name
        );
        // the official runs' stem at 224 pixels, kept at any size; two DataParallel replicas
        // for ResNet-50 and -101 (config.yaml's num_gpus: 2)
        assert_eq!(c.stem, Some(iterand_models::Stem::Imagenet), "{}", r.name);
        let replicas = matches!(r.model, Resnet50 | Resnet101).then_some(2);
        assert_eq!(c.bn_replicas, replicas, "{}", r.name);
    }
}

#[test]
fn the_quick_set_is_fashion_mnist_sized_for_a_cpu() {
    for name in ["quick_figure1", "quick_figure2"] {
        let f = embedded().into_iter().find(|f| f.name == name).unwrap();
        let runs = f.runs(&toml::Table::new()).unwrap();
        assert!(runs
            .iter()
            .all(|r| r.config.dataset == DatasetName::FashionMnist
                && r.config.model == Arch::Fc
                && r.config.epochs <= 10));
        assert_eq!(runs.len(), if name == "quick_figure1" { 12 } else { 36 });
    }
}
