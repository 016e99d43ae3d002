/// Makes text safe to place in a GRUB script (`grub.cfg`).
///
/// GRUB reads a script like a shell: words split at spaces, tabs, newlines and the
/// metacharacters `| & ; ( ) < >`; `$name` and `${name}` expand outside single quotes and inside
/// double quotes; `\` escapes the next character outside single quotes; adjacent quoted and
/// unquoted pieces join into one word. Inside single quotes every character is literal and a
/// single quote cannot occur at all. So every piece of text from a file or a user goes out as
/// one single-quoted word, each `'` in it written as `'\''` (close, an escaped quote, reopen):
/// nothing in it can end the word, start a command or expand a variable.
package enum GRUBText {
    /// `text` as one single-quoted GRUB word that reads back as exactly `text`. Control
    /// characters (a newline would end the command inside a menu entry's title on the console)
    /// must be gone already: `display` and `IPXEText.commandLine` remove them.
    package static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Menu text as the iPXE menu shows it (the same sanitising: the two menus name entries
    /// alike), quoted for GRUB.
    package static func display(_ text: String, maximumLength: Int = 64, fallback: String = "unnamed") -> String {
        quoted(IPXEText.sanitize(text, maximumLength: maximumLength, fallback: fallback))
    }
}
