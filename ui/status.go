package ui

import "github.com/mailbag/mailbag/store/termsafe"

type statusKind int

const (
	statusNone statusKind = iota
	statusInfo
	statusError
	statusBusy
)

// statusModel is the message part of the status line: progress, the
// result of the last action, or the last error.
type statusModel struct {
	kind statusKind
	text string // sanitised
}

func (s *statusModel) info(t string) { s.kind, s.text = statusInfo, termsafe.Line(t) }

func (s *statusModel) error(err error) {
	s.kind, s.text = statusError, termsafe.Line(err.Error())
}

func (s *statusModel) busy(t string) { s.kind, s.text = statusBusy, termsafe.Line(t) }

// done ends a busy state.
func (s *statusModel) done() {
	if s.kind == statusBusy {
		s.kind, s.text = statusNone, ""
	}
}

// clear drops a message the user has seen (on the next key press);
// progress stays.
func (s *statusModel) clear() {
	if s.kind != statusBusy {
		s.kind, s.text = statusNone, ""
	}
}
