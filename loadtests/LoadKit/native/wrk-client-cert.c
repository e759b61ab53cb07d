/*
 * wrk-client-cert: an LD_PRELOAD shim that gives wrk a TLS client certificate.
 *
 * wrk has no option for a client certificate, so it cannot reach a listener that requires one (mTLS). This shim
 * wraps OpenSSL's SSL_CTX_new: after the real call it loads the certificate chain and key named by
 * WRK_CLIENT_CERT and WRK_CLIENT_KEY (PEM files) into every context wrk creates. Nothing else changes: wrk's
 * own request loop, timing and statistics are what measure.
 *
 * Built by the load-test harness (loadtests/LoadKit/Platform.cs) with: gcc -shared -fPIC -O2 -o wrk-client-cert.so
 * wrk-client-cert.c -ldl. It needs no OpenSSL headers: the two types it touches are opaque pointers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;

#define SHIM_FILETYPE_PEM 1 /* SSL_FILETYPE_PEM == X509_FILETYPE_PEM */

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    static SSL_CTX *(*real_new)(const SSL_METHOD *);
    static int (*use_chain)(SSL_CTX *, const char *);
    static int (*use_key)(SSL_CTX *, const char *, int);
    static int (*check_key)(const SSL_CTX *);
    if (!real_new) {
        real_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
        use_chain = (int (*)(SSL_CTX *, const char *))dlsym(RTLD_NEXT, "SSL_CTX_use_certificate_chain_file");
        use_key = (int (*)(SSL_CTX *, const char *, int))dlsym(RTLD_NEXT, "SSL_CTX_use_PrivateKey_file");
        check_key = (int (*)(const SSL_CTX *))dlsym(RTLD_NEXT, "SSL_CTX_check_private_key");
        if (!real_new || !use_chain || !use_key || !check_key) {
            fprintf(stderr, "wrk-client-cert: OpenSSL symbols not found (is the program linked with libssl?)\n");
            exit(70);
        }
    }
    SSL_CTX *ctx = real_new(method);
    const char *cert = getenv("WRK_CLIENT_CERT");
    const char *key = getenv("WRK_CLIENT_KEY");
    if (ctx && cert && key) {
        if (use_chain(ctx, cert) != 1 || use_key(ctx, key, SHIM_FILETYPE_PEM) != 1 || check_key(ctx) != 1) {
            fprintf(stderr, "wrk-client-cert: cannot load %s / %s\n", cert, key);
            exit(71);
        }
    }
    return ctx;
}
