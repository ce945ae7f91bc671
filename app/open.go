package app

import (
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// OpenModel loads a model folder onto the named backend and, when adapterDir
// is not empty, attaches that PEFT LoRA adapter.
func OpenModel(dir, backend, adapterDir string) (*model.Model, error) {
	be, err := NewBackend(backend)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(dir, be)
	if err != nil {
		return nil, err
	}
	if adapterDir != "" {
		if _, err := train.LoadAdapter(adapterDir, m); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}
