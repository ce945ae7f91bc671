package assets

import "embed"

// Demo holds the offline demo under demo/: a small Llama model Fynetune
// pretrained itself (demo/model), the fine-tuning dataset and a text sample
// (demo/data), the "Train the demo" settings (demo/demo.toml) and the chat
// pane's sample prompts (demo/prompts.txt). tools/mkdemo writes it;
// app.OpenDemo copies it to disk for model.Load.
//
//go:embed demo
var Demo embed.FS
