"""Round trips through the TRE registry with oras-py (PyPI `oras`), a client the project did not
write: an image (OCI image config + a gzip layer) and an artifact (a file with its own artifact
type) are pushed with one user's TRE token and pulled back with another's; the digests must
match. A push the token does not allow must be refused.

Usage: oras_roundtrip.py HOST WORKDIR PUSH_USER PUSH_TOKEN PULL_USER PULL_TOKEN REPO DENIED_REPO
Prints one JSON object with what happened; exits non-zero on any mismatch.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import oras.client
import oras.oci


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def client(host, user, token, work):
    """A client and the credentials file its login wrote (oras reads it back on every push and
    pull; the caller runs us with HOME set to a directory of its own)."""
    c = oras.client.OrasClient(hostname=host, insecure=True)
    config = os.path.join(work, f"docker-config-{user}.json")
    # The TRE token is the password; the registry's token realm turns it into scoped tokens.
    # Credentials go to a config file of the test's own, not the user's.
    c.login(
        username=user,
        password=token,
        hostname=host,
        tls_verify=False,
        config_path=config,
    )
    return c, config


def make_image(work):
    """A one-layer image: a gzip tar holding hello.txt, and an OCI image config naming it."""
    data = b"hello from the TRE\n"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = tar_bytes.getvalue()
    layer = os.path.join(work, "layer.tar.gz")
    with open(layer, "wb") as f:
        f.write(gzip.compress(raw, mtime=0))
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["cat", "/hello.txt"]},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
            },
            f,
        )
    return layer, config


def main():
    host, work, push_user, push_token, pull_user, pull_token, repo, denied_repo = sys.argv[1:9]
    os.makedirs(work, exist_ok=True)
    out = {}
    pusher, push_cfg = client(host, push_user, push_token, work)
    puller, pull_cfg = client(host, pull_user, pull_token, work)
    os.chdir(work)

    # An image.
    layer, config = make_image(work)
    image = f"{host}/{repo}:image"
    pusher.push(
        files=["layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"],
        target=image,
        manifest_config="config.json:application/vnd.oci.image.config.v1+json",
        disable_path_validation=True,
        config_path=push_cfg,
        # Chunked (POST, PATCH..., PUT) in small chunks, to cross several requests.
        do_chunked=True,
        chunk_size=64,
    )
    pulled = puller.pull(target=image, outdir=os.path.join(work, "image-out"), config_path=pull_cfg)
    out["image_pulled"] = sorted(os.path.basename(p) for p in pulled)
    manifest = puller.get_manifest(image)
    out["image_config"] = manifest["config"]["mediaType"]
    out["image_layer_digest"] = manifest["layers"][0]["digest"]
    assert manifest["layers"][0]["digest"] == sha256_file(layer), manifest
    assert manifest["config"]["digest"] == sha256_file(config), manifest

    # An artifact with its own type.
    artifact_file = os.path.join(work, "cohort-codebook.txt")
    with open(artifact_file, "w") as f:
        f.write("age: years at baseline\nsex: as recorded\n")
    artifact = f"{host}/{repo}:codebook"
    pusher.push(
        files=["cohort-codebook.txt:text/plain"],
        target=artifact,
        manifest_annotations={"org.opencontainers.image.title": "codebook"},
        disable_path_validation=True,
        config_path=push_cfg,
    )
    pulled = puller.pull(target=artifact, outdir=os.path.join(work, "artifact-out"), config_path=pull_cfg)
    assert len(pulled) == 1, pulled
    assert sha256_file(pulled[0]) == sha256_file(artifact_file), "artifact digest changed"
    out["artifact_digest"] = sha256_file(pulled[0])

    # Blobs whose content does not match the digest the client names are refused, whole or in
    # chunks, and nothing is stored under that digest.
    wrong = oras.oci.NewLayer(artifact_file, media_type="text/plain")
    wrong["digest"] = "sha256:" + "0" * 64
    out["wrong_digest"] = []
    for chunked in (False, True):
        response = pusher.upload_blob(artifact_file, f"{host}/{repo}:x", dict(wrong), do_chunked=chunked)
        out["wrong_digest"].append(response.status_code)
        assert response.status_code == 400, response.text
    assert not pusher.blob_exists(dict(wrong), pusher.get_container(f"{host}/{repo}:x"))

    # A push the puller's token does not allow.
    try:
        puller.push(
            files=["cohort-codebook.txt:text/plain"],
            target=f"{host}/{denied_repo}:nope",
            disable_path_validation=True,
            config_path=pull_cfg,
        )
        out["denied_push"] = "accepted"
    except Exception as e:  # oras raises on the registry's refusal
        out["denied_push"] = "refused: " + str(e)[:200]

    print(json.dumps(out))
    if out["denied_push"] == "accepted":
        sys.exit(1)


if __name__ == "__main__":
    main()
