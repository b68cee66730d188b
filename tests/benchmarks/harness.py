"""Native timing harnesses: one Rust bin crate per Rust system (depending on every generated
crate by path) and one C program for CasADi (linking every separately compiled ``kernel.o``).

Both harnesses do the same thing for a case: read the inputs (little-endian f64) from a file,
call the kernel once and write the outputs to a file, then run ``reps`` timed loops of
``iters`` calls. The inputs change between calls: the loop cycles through 8 precomputed copies of
the inputs, copy ``s`` perturbed by ``1e-9 * s``, and one output element is accumulated, so no
call can be skipped. (Perturbing an input element right before each call instead would time a
store-to-load forwarding stall whenever the compiler reads inputs with vector loads, which says
more about the harness than about the kernel.) The harness prints ``NS <ns per call of each rep>``
and the checksum.

Both sides call the kernel the same way: through a function pointer the optimizer cannot see
through (Rust: ``std::hint::black_box`` of the function item; C: a ``volatile`` function
pointer), so neither harness inlines, specializes or hoists anything of the kernel into its loop.
Case ``KEY@harness`` (:data:`HARNESS_SUFFIX`) runs the same loop calling an empty function of the
same signature through the same kind of pointer: its ns/call is the harness's own cost (cycling
the inputs, building the slices or argument arrays, the indirect call, the accumulation), and
``ns(KEY) - ns(KEY@harness)`` is what the kernel itself costs.
"""

from __future__ import annotations

from dataclasses import dataclass

#: key suffix of a case's empty-function run (the harness's own cost)
HARNESS_SUFFIX = "@harness"


@dataclass
class Case:
    key: str  # harness dispatch key
    crate: str  # Rust crate name (Rust systems) / C symbol (CasADi)
    function: str
    input_sizes: list[int]
    output_size: int
    workspace: int
    iw: int = 0
    #: lengths of CasADi's argument and result pointer arrays (``sz_arg``/``sz_res``: an MX
    #: function uses the entries past its ports as scratch); 0: the number of ports
    sz_arg: int = 0
    sz_res: int = 0


def _offsets(sizes: list[int]) -> list[int]:
    offs = [0]
    for s in sizes:
        offs.append(offs[-1] + s)
    return offs


def rust_harness(
    cases: list[Case], crate_paths: dict[str, str], name: str = "bench_harness"
) -> tuple[str, str]:
    """(Cargo.toml, src/main.rs) of bin crate ``name`` timing every case (several cases may
    share a crate) and, under ``KEY@harness``, the same loop around an empty function."""
    crates = list(dict.fromkeys(c.crate for c in cases))
    deps = "\n".join(f'{c} = {{ path = "{crate_paths[c]}" }}' for c in crates)
    toml = (
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f"[dependencies]\n{deps}\n\n[profile.release]\nopt-level = 3\n"
    )
    arities = sorted({len(c.input_sizes) for c in cases})
    empties = []
    for n in arities:
        params = ", ".join(["_: &[f64]"] * n + ["_: &mut [f64]", "_: &mut [f64]"])
        empties.append(f"#[inline(never)]\nfn empty{n}<E>({params}) -> Result<(), E> {{\n    Ok(())\n}}\n")
    arms = []
    for c in cases:
        offs = _offsets(c.input_sizes)
        n = len(c.input_sizes)
        args = ", ".join(f"&x[{offs[i]}..{offs[i + 1]}]" for i in range(n))
        params = ", ".join(["&[f64]"] * n + ["&mut [f64]", "&mut [f64]"])
        fn_type = f"fn({params}) -> Result<(), {c.crate}::GradgenError>"
        for key, target in ((c.key, f"{c.crate}::{c.function}"), (c.key + HARNESS_SUFFIX, f"empty{n}")):
            arms.append(
                f'        "{key}" => {{\n'
                f"            let kernel: {fn_type} = black_box({target});\n"
                f"            run({offs[-1]}, {c.output_size}, {max(c.workspace, 1)}, &args, "
                f"|x: &[f64], y: &mut [f64], w: &mut [f64]| kernel({args}, y, w).is_ok())\n"
                "        }"
            )
    main = f"""use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

{chr(10).join(empties)}
fn run<F: FnMut(&[f64], &mut [f64], &mut [f64]) -> bool>(
    nin: usize,
    nout: usize,
    nwork: usize,
    args: &[String],
    mut kernel: F,
) {{
    let bytes = std::fs::read(&args[2]).expect("read inputs");
    let base: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(base.len(), nin);
    let iters: usize = args[4].parse().unwrap();
    let reps: usize = args[5].parse().unwrap();
    let mut sets: Vec<f64> = Vec::with_capacity(8 * nin);
    for s in 0..8 {{
        sets.extend(base.iter().map(|b| b + 1e-9 * (s as f64)));
    }}
    let mut y = vec![0.0f64; nout];
    let mut w = vec![0.0f64; nwork];
    if !kernel(&base, &mut y, &mut w) {{
        eprintln!("kernel returned an error");
        std::process::exit(2);
    }}
    let mut out = Vec::with_capacity(8 * nout);
    for v in &y {{
        out.extend_from_slice(&v.to_le_bytes());
    }}
    std::fs::write(&args[3], out).expect("write outputs");
    let mut acc = 0.0f64;
    let mut ns = Vec::new();
    for _ in 0..reps {{
        let t = Instant::now();
        for it in 0..iters {{
            let s = it & 7;
            kernel(&sets[s * nin..(s + 1) * nin], &mut y, &mut w);
            acc += y[it % nout];
        }}
        ns.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }}
    let mut so = std::io::stdout();
    writeln!(so, "NS {{}}", ns.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")).unwrap();
    writeln!(so, "CHECKSUM {{}}", acc).unwrap();
}}

fn main() {{
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {{
{chr(10).join(arms)}
        other => {{
            eprintln!("unknown case {{}}", other);
            std::process::exit(3);
        }}
    }}
}}
"""
    return toml, main


def c_harness(cases: list[Case]) -> str:
    """A C program timing every CasADi case (link with each case's kernel.o and -lm) and, under
    ``KEY@harness``, the same loop around an empty function."""
    protos = "\n".join(
        f"int {c.function}(const double** arg, double** res, long long int* iw, double* w, int mem);"
        for c in cases
    )
    arms = []
    for c in cases:
        offs = _offsets(c.input_sizes)
        set_args = " ".join(f"arg[{i}] = x + {offs[i]};" for i in range(len(c.input_sizes)))
        set_args_loop = " ".join(f"arg[{i}] = xs + {offs[i]};" for i in range(len(c.input_sizes)))
        arms.append(
            f"""  if (strcmp(argv[1], "{c.key}") == 0 || strcmp(argv[1], "{c.key}{HARNESS_SUFFIX}") == 0) {{
    kernel_fn volatile pick = strcmp(argv[1], "{c.key}") == 0 ? {c.function} : empty_fn;
    kernel_fn kernel = pick;
    nin = {offs[-1]}; nout = {c.output_size};
    double *x = malloc(sizeof(double) * 8 * nin), *base = malloc(sizeof(double) * nin);
    double *y = malloc(sizeof(double) * (nout + 1)), *w = malloc(sizeof(double) * {max(c.workspace, 1)});
    long long int *iw = malloc(sizeof(long long int) * {max(c.iw, 1)});
    const double* arg[{max(c.sz_arg, len(c.input_sizes))}]; double* res[{max(c.sz_res, 1)}] = {{y}};
    for (long k = 0; k < nout; k++) y[k] = 0.0;
    read_inputs(argv[2], base, nin);
    for (long s = 0; s < 8; s++) for (long k = 0; k < nin; k++) x[s * nin + k] = base[k] + 1e-9 * (double)s;
    {set_args}
    if (kernel(arg, res, iw, w, 0) != 0) return 2;
    write_outputs(argv[3], y, nout);
    printf("NS");
    for (int r = 0; r < reps; r++) {{
      double t0 = now_ns();
      for (long it = 0; it < iters; it++) {{
        const double* xs = x + (it & 7) * nin;
        {set_args_loop}
        kernel(arg, res, iw, w, 0);
        acc += y[it % nout];
      }}
      printf(" %.3f", (now_ns() - t0) / (double)iters);
    }}
    printf("\\nCHECKSUM %.17g\\n", acc);
    return 0;
  }}"""
        )
    return f"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef int (*kernel_fn)(const double** arg, double** res, long long int* iw, double* w, int mem);
{protos}

__attribute__((noinline)) static int empty_fn(const double** arg, double** res, long long int* iw,
                                              double* w, int mem) {{
  (void)arg; (void)res; (void)iw; (void)w; (void)mem;
  return 0;
}}
static double now_ns(void) {{
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}}
static void read_inputs(const char* path, double* x, long n) {{
  FILE* f = fopen(path, "rb"); if (!f || fread(x, sizeof(double), n, f) != (size_t)n) exit(4); fclose(f);
}}
static void write_outputs(const char* path, const double* y, long n) {{
  FILE* f = fopen(path, "wb"); if (!f) exit(5); fwrite(y, sizeof(double), n, f); fclose(f);
}}

int main(int argc, char** argv) {{
  if (argc < 6) return 1;
  long iters = atol(argv[4]); int reps = atoi(argv[5]); long nin, nout; double acc = 0;
{chr(10).join(arms)}
  fprintf(stderr, "unknown case %s\\n", argv[1]);
  return 3;
}}
"""
