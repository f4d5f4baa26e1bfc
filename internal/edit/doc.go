// Package edit turns an LLM's answer into file edits and applies them to a workspace without letting
// a single byte land outside it. The model is asked for Aider-style SEARCH/REPLACE blocks, and
// whole files and unified diffs are accepted too, because models answer with them anyway; [Parse]
// reads them tolerantly, [Apply] writes the ones that match and explains the ones that don't, and
// [FailureReport] words that explanation for the model's next turn.
//
// # Format
//
// [Instructions] is the text to put in the coder agent's system prompt. In short, each edit is the
// file's path alone on a line, then a fenced block holding one SEARCH/REPLACE block:
//
//	path/to/file.go
//	```go
//	<<<<<<< SEARCH
//	old lines
//	=======
//	new lines
//	>>>>>>> REPLACE
//	```
//
// An answer may hold any number of blocks, several for the same file; they are applied in order, each to
// the result of the previous one. An empty SEARCH section (or one of blank lines only) creates the
// file, or fills an existing empty one. A new file may also be written whole: a line "NEW FILE: path" followed by a fenced code block
// whose content is the file. NEW FILE never overwrites a non-empty file.
//
// Two other forms are accepted ([Edit.Format] tells which was used):
//
//   - A whole file (Aider's "whole" format): a fenced block headed by its path creates the file or
//     replaces it. The path is in the fence's info string ("```go calc.go", "```calc.go") or alone
//     on the line right above the fence, decorated or not ("`calc.go`", "**calc.go**",
//     "# calc.go", "File: calc.go"). So that code examples in prose are not taken for files, the
//     path must look like one (no spaces, and a base name with an extension or a known name such
//     as Makefile; a mixed-case "extension", as in fmt.Println, is an identifier), and a block
//     holding SEARCH/REPLACE markers or a diff is not a whole file. A whole file that would empty
//     a non-empty file, or that stands in for code with a comment such as "... rest unchanged ...",
//     is refused.
//   - A unified diff ("--- a/add.go", "+++ b/add.go", "@@" hunks), fenced or not, for any number
//     of files and hunks, with or without git's a/ and b/ prefixes; hunks without ---/+++ lines
//     are read in a diff fence headed by a path as above. Each hunk is an edit whose SEARCH is its
//     context and removed lines and whose REPLACE is its context and added lines, so hunks are
//     found by content with the same tolerance as SEARCH sections; the @@ line numbers, which
//     models get wrong, only choose among places that match equally well. "--- /dev/null"
//     creates a file (never over a non-empty one) and "+++ /dev/null" deletes one. Renames are
//     refused. Known limits: inside a hunk, a removed line beginning "-- " followed by an added
//     line beginning "++ " reads as the next file's header, and a real directory named "a" or
//     "b" at the top of the repository loses that name as if it were git's prefix.
//
// # Tolerance
//
// The parser accepts what models actually write: blocks with or without code fences (of any language,
// backticks or tildes); marker lines with 5 to 9 '<', '=' or '>' instead of 7, surrounding spaces and
// lower case; CRLF line endings; a path line decorated as "`a.go`", "**a.go**", "### a.go", "a.go:",
// "File: a.go" or "NEW FILE: a.go", up to three lines above the block with blank lines and the opening
// fence in between; and a block without a path line, which continues the file of the block before it.
// A path is one word of letters, digits and "._-/+@~[]", which keeps prose and code lines from being
// taken for one.
// A block that is cut off or has markers out of order is reported as a [ParseError] and the rest of
// the answer is still parsed. Known limit: a line of 5 to 9 '=' inside a SEARCH or REPLACE section (a
// reStructuredText underline, say) is taken for the divider.
//
// When applying, SEARCH (or a hunk's lines) is located in the file by progressively looser passes, each tried only when the
// stricter one found nothing: exact lines; lines equal once trailing whitespace is ignored; the block's
// lines all shifted by the same indentation (the REPLACE lines are re-indented by the same amount);
// lines indented with tabs where the file has spaces, or the reverse (the indent unit, say four
// spaces to a tab, and any shift by whole levels are read off the matched lines, and the REPLACE
// lines are re-indented in the file's style); and finally the same four with blank lines at the
// edges of SEARCH (and as many at the edges of REPLACE) dropped. A SEARCH that matches more than one place in a pass is refused as ambiguous rather than
// guessed at. A SEARCH that matches nowhere is reported with the closest window of lines in the file
// (by line similarity) and its line numbers, so the model can copy the real text. Line numbers and
// closest lines describe the file after the answer's other edits, which is what the model's retry
// will be applied to.
//
// # Safety
//
// Every path goes through [SafePath]: absolute paths, paths that climb out with "..", empty paths, NUL
// bytes, anything under a ".git" directory (in any case) and paths that reach outside the workspace
// through a symbolic link are refused with a reason. The files themselves are read and written
// through an [os.Root], which refuses escapes on its own, so a symlink swapped in after the check
// still cannot redirect a write. Files are replaced by writing a temporary file in the same
// directory and renaming it over the original, so a file is either fully edited or untouched;
// Apply writes the edits that apply and reports the rest, as Aider does. Every form goes through
// the same path checks and the same writing, each file written once with all its edits; a
// deleted file is removed through the same [os.Root].
package edit
