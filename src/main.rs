fn main() {
    std::process::exit(simba_run::cli::main());
}
