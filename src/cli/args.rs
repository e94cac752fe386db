//! The argument types of the commands that take more than a flag or two (clap).
use crate::reco::neural::SeqHyper;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    pub query: String,
    #[arg(long, value_enum, default_value = "hybrid")]
    pub mode: SearchMode,
    #[arg(long)]
    pub min_price: Option<f64>,
    #[arg(long)]
    pub max_price: Option<f64>,
    /// A category path prefix ("Hobbies > Model Trains & Railway Sets").
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub brand: Option<String>,
    #[arg(long)]
    pub in_stock: bool,
    #[arg(long)]
    pub min_rating: Option<f32>,
    /// Attribute filters, `key:value` pairs separated by `;` ("age:3 years and up;colour:red").
    #[arg(long, default_value = "")]
    pub attr: String,
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    pub what: String,
    /// Passes over the request set (chat); training seeds of the served classifier (intent).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Most review queries (search-quality), requests (recommend); the event flood's requests per second (load).
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Size of the large synthetic catalog (search-speed, recommend).
    #[arg(long, default_value_t = 100_000)]
    pub large: usize,
    /// Chat sessions to build (console).
    #[arg(long, default_value_t = 20_000)]
    pub sessions: usize,
    /// Honest shoppers chatting at once (load); the most at once (capacity).
    #[arg(long, default_value_t = 4)]
    pub shoppers: usize,
    /// Spinning processes running beside the benchmark (capacity).
    #[arg(long, default_value_t = 0)]
    pub competing: usize,
    #[arg(long, default_value = "data/amazon-toys/products.jsonl")]
    pub toys: PathBuf,
    #[arg(long, default_value = "data/online-retail/online_retail.csv.gz")]
    pub demo_data: PathBuf,
    /// The request set (shopping).
    #[arg(long, default_value = "benches/shopping.toml")]
    pub cases: PathBuf,
    /// Only this class of the request set (shopping).
    #[arg(long)]
    pub class: Option<String>,
    /// Also measure messages in this language (intent: `data/intents/<lang>_test.csv`; search-quality:
    /// `benches/search_<lang>.csv` instead of the review queries).
    #[arg(long)]
    pub lang: Option<String>,
    /// A script that forecasts the same series with another tool (forecast: benches/forecast_reference.py).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// The Python that runs `--reference`.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: crate::accounts::Role,
    },
    List,
    Remove {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyAction {
    /// Makes a key and prints it (only its hash is kept: copy it now).
    Add {
        /// Where the key is used, e.g. "storefront" or "order system".
        name: String,
        #[arg(long, value_enum)]
        kind: crate::keys::KeyKind,
    },
    List,
    /// Refuses the key from now on (by the id `key list` shows).
    Revoke {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdentityAction {
    /// Prints `CUSTOMER EXPIRES SIGNATURE` for a customer id (for a test page, or to check a shop's own signer).
    Sign {
        customer: String,
        /// Seconds the signature holds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShopperAction {
    Export { id: String },
    Delete { id: String },
}

/// Training settings shared by `train` and `eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct HyperArgs {
    #[arg(long, default_value_t = 64)]
    pub dim: usize,
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0.004)]
    pub lr: f32,
    /// L2 regularisation.
    #[arg(long, default_value_t = 1e-5)]
    pub reg: f32,
    /// Training threads (default: all cores).
    #[arg(long)]
    pub train_threads: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl HyperArgs {
    pub fn hyper(&self) -> crate::reco::model::Hyper {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        crate::reco::model::Hyper {
            dim: self.dim,
            epochs: self.epochs,
            lr: self.lr,
            reg: self.reg,
            threads: self.train_threads.unwrap_or(cores),
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// The sequential model's settings in `aisle eval` (`--seq-*`).
#[derive(clap::Args, Debug, Clone)]
pub struct SeqArgs {
    /// The sequential model's most epochs (early stopping may end sooner).
    #[arg(long = "seq-epochs", id = "seq-epochs", default_value_t = SeqHyper::default().epochs)]
    pub epochs: usize,
    /// Windows of its last 50 products trained per shopper, most recent first (0: every window).
    #[arg(long = "seq-windows", id = "seq-windows", default_value_t = SeqHyper::default().windows)]
    pub windows: usize,
    /// Negatives sampled per batch for its softmax.
    #[arg(long = "seq-negatives", id = "seq-negatives", default_value_t = SeqHyper::default().negatives)]
    pub negatives: usize,
    /// Its learning rate (Adam).
    #[arg(long = "seq-lr", id = "seq-lr", default_value_t = SeqHyper::default().lr)]
    pub lr: f64,
    /// Keep its learning rate constant (by default it falls linearly over the epochs).
    #[arg(long = "seq-constant-lr", id = "seq-constant-lr")]
    pub constant_lr: bool,
    /// Windows per batch.
    #[arg(long = "seq-batch", id = "seq-batch", default_value_t = SeqHyper::default().batch)]
    pub batch: usize,
    /// Epochs without a better validation NDCG@10 before it stops.
    #[arg(long = "seq-patience", id = "seq-patience", default_value_t = SeqHyper::default().patience)]
    pub patience: usize,
}

impl SeqArgs {
    pub fn hyper(&self) -> SeqHyper {
        SeqHyper {
            epochs: self.epochs,
            windows: self.windows,
            negatives: self.negatives,
            lr: self.lr,
            lr_decay: !self.constant_lr,
            batch: self.batch,
            patience: self.patience,
            ..Default::default()
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SearchMode {
    Keyword,
    Semantic,
    Hybrid,
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use clap::{CommandFactory, Parser};

    #[test]
    fn every_flag_has_its_own_id() {
        Cli::command().debug_assert();
    }

    #[test]
    fn eval_keeps_the_sequential_models_flags_apart_from_the_bpr_models() {
        let cli = Cli::try_parse_from(["aisle", "eval", "--seq-windows", "1", "--epochs", "7", "--seq-lr", "0.01"])
            .expect("eval parses with one --seq-* flag and not the others");
        let Command::Eval { hyper, seq, .. } = cli.command else { panic!("not eval") };
        assert_eq!((hyper.epochs, hyper.lr), (7, 0.004));
        assert_eq!((seq.windows, seq.epochs, seq.lr), (1, crate::reco::neural::SeqHyper::default().epochs, 0.01));
    }
}
