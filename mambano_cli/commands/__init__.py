"""The five commands; each module keeps its heavy imports inside the function body."""

from mambano_cli.commands.evaluate import eval_command
from mambano_cli.commands.generate import generate_command
from mambano_cli.commands.predict import predict_command
from mambano_cli.commands.reproduce import reproduce_command
from mambano_cli.commands.train import train_command
from mambano_cli.commands.upsample import upsample_command

COMMANDS = (
    ("generate", generate_command, "Generate a benchmark's data store (netCDF files + manifest); reruns complete an interrupted generation."),
    ("train", train_command, "Train a model from a YAML run spec."),
    ("eval", eval_command, "Median relative L1 (%) of trained runs on the ID (and OOD) test sets."),
    ("predict", predict_command, "Predict output fields for a netCDF input, in physical units, on any grid."),
    ("reproduce", reproduce_command, "Train every (model, benchmark) pair with one protocol; write the results table and a report."),
    ("upsample", upsample_command, "Band-limited resampling of a netCDF field file (sine series or Fourier)."),
)
