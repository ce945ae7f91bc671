// Package cli is Fynetune's headless face: the subcommands of the fynetune
// binary (generate, eval, inspect, ...). Every subcommand goes through package
// app, the same engine the window drives.
//
// Exit codes: 0 success, 1 failure (one clear line on stderr), 2 usage error
// (a one-line message and the usage).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// Env is where a command reads and writes; tests substitute buffers.
type Env struct {
	Stdout, Stderr io.Writer
}

// usageError marks errors in the command line itself (exit status 2).
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"generate", "generate text from a prompt", runGenerate},
		{"eval", "mean token loss and perplexity of a text file", runEval},
		{"export", "write an adapter or merged model as PEFT, Hugging Face or GGUF, verified", runExport},
		{"inspect", "describe a model folder or GGUF file", runInspect},
		{"train", "fine-tune a model with LoRA (or fully)", runTrain},
		{"bench", "measure training speed and memory", runBench},
	}
}

// Usage is the top-level help text.
func Usage() string {
	var b strings.Builder
	b.WriteString("usage: fynetune                 open the workbench window\n")
	b.WriteString("       fynetune COMMAND [flags]  run headless\n\ncommands:\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'fynetune COMMAND -h' for a command's flags.\n")
	return b.String()
}

// Run executes the subcommand in args (args[0] is the command name) and
// returns the process exit status. Ctrl-C cancels the command's context.
func Run(args []string, env *Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, Usage())
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(env.Stdout, Usage())
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		err := c.run(ctx, env, args[1:])
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(env.Stderr, "fynetune %s: %s\n%s", name, ue.msg, ue.usage)
			return 2
		default:
			fmt.Fprintf(env.Stderr, "fynetune %s: %s\n", name, oneLine(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "fynetune: unknown command %q\n%s", name, Usage())
	return 2
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// flagSet makes a FlagSet whose parse errors become usage errors.
type flagSet struct {
	*flag.FlagSet
	env *Env
}

func newFlags(env *Env, name, synopsis string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := &flagSet{FlagSet: fs, env: env}
	fs.Usage = func() { fmt.Fprint(env.Stdout, f.usage(synopsis)) }
	return f
}

func (f *flagSet) usage(synopsis string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: fynetune %s %s\n", f.Name(), synopsis)
	f.VisitAll(func(fl *flag.Flag) {
		def := ""
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(&b, "  --%-14s %s%s\n", fl.Name, fl.Usage, def)
	})
	return b.String()
}

// parse parses args, turning errors into usage errors and checking that
// the required flags were given.
func (f *flagSet) parse(synopsis string, args []string, required ...string) error {
	f.SetOutput(io.Discard)
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // the FlagSet's Usage hook printed the usage
		}
		return &usageError{msg: err.Error(), usage: f.usage(synopsis)}
	}
	if f.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", f.Arg(0)), usage: f.usage(synopsis)}
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, r := range required {
		if !set[r] {
			return &usageError{msg: "missing --" + r, usage: f.usage(synopsis)}
		}
	}
	return nil
}

func (f *flagSet) bad(synopsis, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), usage: f.usage(synopsis)}
}
