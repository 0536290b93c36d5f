"""The dashboard at ``/ui``: static files (HTML, CSS, plain ES modules) that call the
``/v1`` API from the browser. Nothing to build, no JavaScript library, no CDN."""
