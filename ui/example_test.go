package ui_test

import (
	"fmt"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/ui"
)

// A [keys] entry rebinds an action in every pane; a mistake is reported
// with its line.
func ExampleNew() {
	cfg := &account.Config{Keys: []account.KeyBinding{
		{Action: "down", Keys: []string{"n", "ctrl+n"}, Line: 4},
		{Action: "delete", Keys: []string{"ctrl+alt+shift+x"}, Line: 5},
	}}
	_, err := ui.New(nil, ui.Options{Config: cfg})
	fmt.Println(err)
	// Output: line 5: keys.delete: key "ctrl+alt+shift+x": unknown key name
}
