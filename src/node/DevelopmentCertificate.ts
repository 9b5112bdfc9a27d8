/**
 * A self-signed certificate for `localhost`, so STARTTLS and implicit TLS work out of the box in
 * development. FOR DEVELOPMENT ONLY: its private key is public (it is in this file, in every copy
 * of this package), so a session encrypted with it is readable by anyone. The Node binding uses it
 * only when no `key`/`cert` is configured, and logs a warning the first time it serves a handshake.
 *
 * Made with OpenSSL 3.0 (RSA-2048 for the widest client support, valid 100 years):
 *   openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 36525 \
 *     -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
 *     -addext "extendedKeyUsage=serverAuth"
 */

/** The publicly known private key of the development certificate (PEM). Never use it in production. */
export const developmentKey: string = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQChZnX5uSjhvxxy",
  "LrgJT15YrAlJQM5cQ1b1HGnC1GlWoGiMTXPQEcSQynlYhqDGA/zsUr6I0W2NMjPS",
  "xQebx/rCi0uzpFmC/VxK+bcExJ8ZRgMRCYnjTGimx8K9wc4zhrqoO29pLhxPb8aE",
  "T1uns+rd7JbAsjEptSDW+Ojwwgd2Qd9PCvCKCn7XTIgYimLrtdM1EiLuwt3X4RHL",
  "WlBq0iDlmUL495N+RdIFMXz9FAZHCMgLqaknTqu8Iel6zBFVHfQ08emnr4MmFabe",
  "x4UWabpY6EZN8WTNVdZootiJJ1leZJq8vQ/aaDedK/p4qAKXZJSgoly975kcMNuK",
  "9KC8OogxAgMBAAECggEAAy62Rk+KmRLv4Gd/7P0R5u0zfKyItSSFxy0Bf9w43IKq",
  "tROE5FYpWlKHvIFhE6558v35sFBy2M0j3PTSHtX9YY8mFbt4oV7WDktourEW0wSA",
  "pHob7C2yRZGcSyoSYw01yoHrgzcryzwwvaSj8cVYLPqQiWmqEwC1jk+XpkGpLIF9",
  "fRHRwnjgFlJmbHTkTDfKei06yxQdjiPh+mvfQyOCrnigLnG0WcDmuafqNjPsaZnP",
  "mnekHGgYFVeTB8mFk7HSlgWfhNXMXctlSBieTOzZ9sFgINGcEUXrPlXk+VaZTZad",
  "TZZVJn3xV/jPXWiTwV8k6lwWKxOmyn4OFxQZu8u5fQKBgQDQ6+lwbwlFzNmvA8Iu",
  "i9M29eNbz/M0fz2m98+bjy+lCmMdiPKqVPiBRnWDFsI1uyE/KD0XuH8G2nbKwx65",
  "H73aeRpQK3zUeRd+RW8GPOX4UJydFFPvBLXN6IjUUjoHmyHhJsgQM7kQfCChUR/n",
  "/d4Mypy3i2E6eQ3EggrEfmxkhQKBgQDFxS5P2+HDFI3wiQ5h0VTtYHkF9RQt08W3",
  "Ip1wwe0bCVvBevAAfxSpb1D6BmK6zL0/oj+7Rdyr4Jjewd6AVMt3hG4/5p23uHr/",
  "pIJEM8VA2O5T2m2wpNINGv3ft6F3kEPis7H+DS9Ce/5BlhXQnjNrKODw4/HLattC",
  "yhOl4eSqvQKBgFchTCX76N4XZOG8q4tF/Tx6p+tuent2ZXvw9cBmovQttNBogOvQ",
  "rCMeA3w8TZqjBGaWnYP7Cd8N1WUSowmJ11/6CaNNv63NIqMiyf7L/wzkcayBAdA5",
  "IqlRRV9nO5RYenSv+9fl+lSJsAIXFztlgOnMxjc2BcKhIcDGiz8Pip0RAoGAJjT6",
  "xnjPO7Xb2g1QVvtu8dECcHExbc0M1F1+lwsP+HotXMqYVTA32Kflt/fF2Rq2sPVy",
  "ZIaRpC7muZowlxBKopNWDUhLTfP45yxr8isiP23pVQ/MwySEY/3D8BV0vzmCs+hN",
  "SaxYZfq4WwlYu43klx41nrQawVaqd1O8yf5DA+0CgYBpg0cfLxrvpEEnTIqLeSwT",
  "3okqEeAkAyDUNLtm3Z6zBBmsUqnR1ul2eEQ/PXFm9enjjBs1YYPvENIrILTD2oi0",
  "vHf+lfWD4YIJMRkBtl96gRbIueM0tgSHDlt4DDDnVS/dKrp7esXsmluv9SoqU5bG",
  "+qYPFyw1iXEI/FZZM6UvBw==",
  "-----END PRIVATE KEY-----",
  ""
].join("\n")

/** The self-signed development certificate for `CN=localhost` (PEM). Never use it in production. */
export const developmentCert: string = [
  "-----BEGIN CERTIFICATE-----",
  "MIIDUDCCAjigAwIBAgIUCp/DEh5mJtM5urGNaxUpye26MWgwDQYJKoZIhvcNAQEL",
  "BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTIwNDQ0NloYDzIxMjYx",
  "MTI2MjA0NDQ2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwggEiMA0GCSqGSIb3DQEB",
  "AQUAA4IBDwAwggEKAoIBAQChZnX5uSjhvxxyLrgJT15YrAlJQM5cQ1b1HGnC1GlW",
  "oGiMTXPQEcSQynlYhqDGA/zsUr6I0W2NMjPSxQebx/rCi0uzpFmC/VxK+bcExJ8Z",
  "RgMRCYnjTGimx8K9wc4zhrqoO29pLhxPb8aET1uns+rd7JbAsjEptSDW+Ojwwgd2",
  "Qd9PCvCKCn7XTIgYimLrtdM1EiLuwt3X4RHLWlBq0iDlmUL495N+RdIFMXz9FAZH",
  "CMgLqaknTqu8Iel6zBFVHfQ08emnr4MmFabex4UWabpY6EZN8WTNVdZootiJJ1le",
  "ZJq8vQ/aaDedK/p4qAKXZJSgoly975kcMNuK9KC8OogxAgMBAAGjgZcwgZQwHQYD",
  "VR0OBBYEFBAroOfcej/QEe88bE52L0G15wf8MB8GA1UdIwQYMBaAFBAroOfcej/Q",
  "Ee88bE52L0G15wf8MA8GA1UdEwEB/wQFMAMBAf8wLAYDVR0RBCUwI4IJbG9jYWxo",
  "b3N0hwR/AAABhxAAAAAAAAAAAAAAAAAAAAABMBMGA1UdJQQMMAoGCCsGAQUFBwMB",
  "MA0GCSqGSIb3DQEBCwUAA4IBAQB7wAal+5yr+EgF1A1eAwwZOorJqzMR+eoAGhRd",
  "S2emwpVkALE+kdYgS9/5Eu4+kRUGK/MqNx65JDxdxLbWMTghfF/F9Ouz1pO/YsQF",
  "0D7U+wTM59WiS6gWbdKp65wWub3rFuHKKsz58uMEzOH91aXaFTtEtT+sRJf9VuMv",
  "PqePsMIwvRQaPU/RuTg89U0/aoE78qGyuM+8MmyN8c6SCRRF2OPWQtcSh8JwpzoP",
  "RDS/nrUFX0OeJKU67qfmVkbgEgMdkRYLQC/VbDIpOClN36CIiM0ZOCU5PE9z2cOk",
  "lMnyRNan5DJREF5z3Q52R4KZbMz9Lk3Yj0NQuBoHP4ikNju5",
  "-----END CERTIFICATE-----",
  ""
].join("\n")
