// Package train is the training engine: the LoRA adapter set, optimizers,
// learning-rate schedules, the step loop with evaluation, checkpoints and the
// metrics stream. Datasets and templates live in train/data.
package train
