"""Console views: parse, authorize (console_view), call a selector or a
service, render. One module per page family."""
