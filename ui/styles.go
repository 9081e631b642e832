package ui

import "github.com/charmbracelet/lipgloss"

// Styles is every style the UI uses, by meaning rather than by look.
type Styles struct {
	// Sidebar
	SidebarAccount   lipgloss.Style
	SidebarFolder    lipgloss.Style
	SidebarUnread    lipgloss.Style // a folder with unread mail
	SidebarCount     lipgloss.Style
	SidebarSelected  lipgloss.Style // the cursor in the focused sidebar
	SidebarCurrent   lipgloss.Style // the folder shown in the list
	SidebarSeparator lipgloss.Style

	// Message list
	Row         lipgloss.Style
	RowUnread   lipgloss.Style
	RowFlagged  lipgloss.Style
	RowCursor   lipgloss.Style // cursor row, list focused
	RowCursorBg lipgloss.Style // cursor row, list not focused
	ThreadTree  lipgloss.Style
	Empty       lipgloss.Style

	// Reader
	HeaderName  lipgloss.Style
	HeaderValue lipgloss.Style
	Subject     lipgloss.Style
	Attachment  lipgloss.Style
	Note        lipgloss.Style
	Rule        lipgloss.Style

	// Status line and prompts
	StatusBar   lipgloss.Style
	StatusPlace lipgloss.Style
	StatusInfo  lipgloss.Style
	StatusError lipgloss.Style
	StatusBusy  lipgloss.Style
	Prompt      lipgloss.Style
	PickCursor  lipgloss.Style

	// Help screen
	HelpTitle lipgloss.Style
	HelpKey   lipgloss.Style
	HelpDesc  lipgloss.Style

	Title lipgloss.Style
	Dim   lipgloss.Style
}

// DefaultStyles are the built-in styles: adaptive colours that read on
// light and dark terminals, and reverse video for cursors so that the
// cursor stays visible without colour.
func DefaultStyles() Styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7D79F6"}
	dim := lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#6C6C6C"}
	warn := lipgloss.AdaptiveColor{Light: "#C02020", Dark: "#FF6B6B"}
	flag := lipgloss.AdaptiveColor{Light: "#B35C00", Dark: "#FFB454"}
	ok := lipgloss.AdaptiveColor{Light: "#2E7D32", Dark: "#8BD48B"}
	barBg := lipgloss.AdaptiveColor{Light: "#E4E4EE", Dark: "#2A2A3A"}
	barFg := lipgloss.AdaptiveColor{Light: "#202030", Dark: "#D0D0E0"}

	s := Styles{}
	s.SidebarAccount = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.SidebarFolder = lipgloss.NewStyle()
	s.SidebarUnread = lipgloss.NewStyle().Bold(true)
	s.SidebarCount = lipgloss.NewStyle().Foreground(accent)
	s.SidebarSelected = lipgloss.NewStyle().Reverse(true)
	s.SidebarCurrent = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.SidebarSeparator = lipgloss.NewStyle().Foreground(dim)

	s.Row = lipgloss.NewStyle()
	s.RowUnread = lipgloss.NewStyle().Bold(true)
	s.RowFlagged = lipgloss.NewStyle().Foreground(flag)
	s.RowCursor = lipgloss.NewStyle().Reverse(true)
	s.RowCursorBg = lipgloss.NewStyle().Underline(true)
	s.ThreadTree = lipgloss.NewStyle().Foreground(dim)
	s.Empty = lipgloss.NewStyle().Foreground(dim).Italic(true)

	s.HeaderName = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.HeaderValue = lipgloss.NewStyle()
	s.Subject = lipgloss.NewStyle().Bold(true)
	s.Attachment = lipgloss.NewStyle().Foreground(ok)
	s.Note = lipgloss.NewStyle().Foreground(flag).Italic(true)
	s.Rule = lipgloss.NewStyle().Foreground(dim)

	s.StatusBar = lipgloss.NewStyle().Background(barBg).Foreground(barFg)
	s.StatusPlace = lipgloss.NewStyle().Background(barBg).Foreground(accent).Bold(true)
	s.StatusInfo = lipgloss.NewStyle().Background(barBg).Foreground(ok)
	s.StatusError = lipgloss.NewStyle().Background(barBg).Foreground(warn).Bold(true)
	s.StatusBusy = lipgloss.NewStyle().Background(barBg).Foreground(flag)
	s.Prompt = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.PickCursor = lipgloss.NewStyle().Reverse(true)

	s.HelpTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.HelpKey = lipgloss.NewStyle().Bold(true)
	s.HelpDesc = lipgloss.NewStyle().Foreground(dim)

	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Dim = lipgloss.NewStyle().Foreground(dim)
	return s
}
