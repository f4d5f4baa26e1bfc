package edit

// fence is split out because a Go raw string cannot hold a backtick.
const fence = "```"

// Instructions tells the model how to write edits. It is meant to be quoted as is in the coder agent's
// system prompt; a test parses its examples, so the text and the parser cannot drift apart.
const Instructions = `Make every change to the repository with SEARCH/REPLACE blocks. For each change, write the
file's path, relative to the repository root, alone on a line, then a fenced block like this:

path/to/file.go
` + fence + `go
<<<<<<< SEARCH
	return a + b
=======
	return a - b
>>>>>>> REPLACE
` + fence + `

Rules:
- The SEARCH section must copy the lines currently in the file exactly, including indentation,
  comments and blank lines, and must match only one place in the file. Keep it short: the lines
  that change plus a few lines around them if that is needed to make it unique.
- Use one block per change. Several blocks may name the same file; they are applied in order,
  each to the result of the previous one.
- To delete lines, leave the REPLACE section empty. To move code, delete it with one block and
  insert it with another.
- To create a new file, write NEW FILE: and its path on one line, then the whole content in a
  fenced block:

NEW FILE: path/to/new_file.go
` + fence + `go
package example
` + fence + `

  If the content itself contains a line starting with three backticks, fence it with four.
- Never rewrite an existing file whole; change it with SEARCH/REPLACE blocks.
- Paths must be relative to the repository root, must not contain spaces or "..", and must not
  point into .git.
- If an edit fails you will be told why and shown the closest lines in the file; send only
  corrected blocks for the failed edits.
`
