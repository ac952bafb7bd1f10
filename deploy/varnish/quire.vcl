# Varnish in front of quire: a shared cache of anonymous reads of published content, purged by
# surrogate key (Varnish's xkey module, Debian's varnish-modules) when quire's purger tells it
# what a write made stale. See docs/caching.md, "HTTP caching".
#
#   varnishd -a :6081 -f /etc/varnish/quire.vcl -s malloc,256m
#   QUIRE_PURGE_URL=http://127.0.0.1:6081/ QUIRE_PURGER=xkey quire serve
#
# quire decides what may be kept (Cache-Control): anonymous views of published content are
# `public, s-maxage=…, stale-while-revalidate=…` and name what they show in `xkey`; personal
# views are `private`, and responses holding a token `no-store`. This file adds only what a
# shared cache must do on its own: never serve or store a signed-in request, and take purges
# from the purger alone.

vcl 4.1;

import xkey;

# The quire API. With several instances, put a director (vmod directors) here, or point this
# at the load balancer in front of them.
backend quire {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 35s;
}

# Who may purge: where quire's worker runs.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "No xkey-purge header"));
        }
        # A hard purge: the next read fetches a fresh copy, never a stale one in grace.
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.x-purged));
    }
    # A signed-in request is personal: straight to quire, never from or into the cache.
    if (req.http.Authorization) {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # quire sets no cookies; a browser's cookies for other apps on the host must not make
    # every anonymous read a miss.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_backend_response {
    # Only what quire names by surrogate keys is kept: an error, a redirect or anything else
    # without keys could not be purged, so a 404 for a post about to be published would
    # outlive its publication.
    if (beresp.status != 200 || !beresp.http.xkey) {
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # Surrogate keys are for caches, not for clients.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
}
