package app

import (
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// OpenModel loads a model folder onto the named backend with its frozen
// weights at bits (16, 8 or 4; 0 means 16) and, when adapterDir is not empty,
// attaches that PEFT LoRA adapter.
func OpenModel(dir, backend, adapterDir string, bits int) (*model.Model, error) {
	be, err := NewBackend(backend)
	if err != nil {
		return nil, err
	}
	m, err := model.LoadWith(dir, be, model.LoadOptions{Bits: bits})
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
