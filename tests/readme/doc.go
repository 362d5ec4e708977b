// Package readme is the README's doc test: it runs every ```sh block of the
// repository's README.md, so that the commands a new user copies keep
// working (issue 10: "Every command in the README is exercised by a test
// that runs it").
//
// A block is run unless the HTML comment lines directly above its fence say
// otherwise. Two markers exist, invisible on the rendered page:
//
//	<!-- no-test: REASON -->   do not run the block; REASON is required
//	<!-- expect: REGEXP -->    the block's stdout must match REGEXP (RE2);
//	                           may be given more than once
//
// Blocks run in README order, as root, from the repository root, each with
// bash -e -o pipefail and a timeout. The README's fixed paths are replaced
// by a private temporary directory and `./hull` gets a private --root (see
// rewrites in readme_linux_test.go); afterwards every container under that
// root is deleted and the directory removed. A failure names the README
// line it comes from.
//
// TestManPages holds the man pages to the binary the same way: every
// command of `hull --help` has a page, and each page's OPTIONS document
// exactly the flags its --help shows (hidden runc-compatibility flags
// aside). Both need the built ./hull.
package readme
