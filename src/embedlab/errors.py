"""One exception type for problems the user can fix, so scripts print one readable line, not a traceback."""


class EmbedlabError(Exception):
    """A problem with the user's input or setup; the message names the thing and the fix."""
