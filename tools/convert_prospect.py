#!/usr/bin/python3
"""Convert PROSPECT's per-clip embedding pickles and clip JSON into a prospect store (SPEC §2.2).

    tools/convert_prospect.py --clips train.json --embeddings feats/ --out train.h5 \
        [--name-template "{video_uid}_{start_frame_idx}_embeddings.pkl"] [--dtype f16|f32] \
        [--fps X] [--feature-model NAME]

Each pickle holds one clip's frames: an array [N, 1, D] (SigLIP CLS with a token axis) or [N, D]
(numpy or torch; a dict with an "embeddings" key or a list of rows works too). The store has exactly
the layout `prospect_data build` writes (store version 2): /embeddings [N, D] chunked 256 x D,
/clip_offsets, /clip_video, the clips' JSON and the video uids as UTF-8 bytes (/clip_json,
/video_uid_text) cut by offsets (/clip_json_offsets, /video_uid_offsets), every dataset but
/embeddings chunked with Fletcher32 checksums, fixed-length string attributes, HDF5's newest file
format. Exit 0 done, 1 bad input (named by clip id and file), 2 usage.
"""
import argparse
import json
import os
import pickle
import sys

import h5py
import numpy as np

CHUNK_ROWS = 256
CHUNK_BYTES = 64 * 1024


class InputError(Exception):
    pass


def read_clips(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stripped = text.strip()
    if not stripped:
        return []
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = None
        if not stripped.startswith("{"):
            raise InputError(f"{path}: not valid JSON")
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    clips = []
    for n, line in enumerate(text.splitlines(), 1):  # JSON Lines
        if line.strip():
            try:
                clips.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: line {n}: not valid JSON: {e}")
    return clips


def file_name(template, clip):
    return (template.replace("{video_uid}", str(clip["video_uid"]))
            .replace("{start_frame_idx}", str(clip["start_frame_idx"]))
            .replace("{end_frame_idx}", str(clip["end_frame_idx"]))
            .replace("{clip_id}", f"{clip['video_uid']}_{clip['start_frame_idx']}"))


def load_rows(path, clip_id):
    with open(path, "rb") as f:
        obj = pickle.load(f)
    if isinstance(obj, dict):
        for key in ("embeddings", "features", "embedding"):
            if key in obj:
                obj = obj[key]
                break
        else:
            raise InputError(f"clip {clip_id}: {path}: a dict without an 'embeddings' key (keys: {sorted(obj)})")
    if hasattr(obj, "detach"):  # a torch tensor
        obj = obj.detach().float().cpu().numpy()
    a = np.asarray(obj)
    if a.dtype.kind != "f":
        raise InputError(f"clip {clip_id}: {path}: expected floating-point embeddings, found {a.dtype}")
    if a.ndim == 3 and a.shape[1] == 1:
        a = a[:, 0, :]
    if a.ndim != 2:
        raise InputError(f"clip {clip_id}: {path}: expected shape [N, D] or [N, 1, D], found {list(a.shape)}")
    return np.ascontiguousarray(a, dtype=np.float32)


def checksummed(f, name, values, dtype):
    """A 1-D dataset chunked with a Fletcher32 checksum per chunk (as the C++ writer makes them)."""
    a = np.asarray(values, dtype=dtype)
    n = len(a)
    chunk = max(1, min(n, CHUNK_BYTES // a.itemsize))
    f.create_dataset(name, data=a, chunks=(chunk,), maxshape=(n if n else None,), fletcher32=True)


def texts(f, bytes_name, offsets_name, strings):
    """Strings as UTF-8 bytes one after another, and where each starts ([n + 1] offsets)."""
    encoded = [s.encode("utf-8") for s in strings]
    checksummed(f, bytes_name, np.frombuffer(b"".join(encoded), dtype=np.uint8), np.uint8)
    checksummed(f, offsets_name, np.cumsum([0] + [len(e) for e in encoded]), np.int64)


def fixed_string(s):
    """A fixed-length, null-padded UTF-8 string attribute value (no variable-length data)."""
    b = s.encode("utf-8")
    return np.array(b, dtype=h5py.string_dtype("utf-8", max(1, len(b))))


def convert(args):
    clips = read_clips(args.clips)
    if not clips:
        raise InputError(f"{args.clips}: no clips")
    for i, c in enumerate(clips):
        for key in ("video_uid", "start_frame_idx", "end_frame_idx", "conversation"):
            if key not in c:
                raise InputError(f"{args.clips}: clip {i}: field '{key}' is missing")
    fps = args.fps
    if fps <= 0:
        rates = {float(c["fps"]) for c in clips if c.get("fps")}
        if len(rates) != 1:
            raise InputError(f"{args.clips}: clips give fps {sorted(rates) or 'nowhere'}: pass --fps")
        fps = rates.pop()
    dtype = np.float16 if args.dtype == "f16" else np.float32
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    offsets, clip_texts, clip_video, video_uids, video_index = [0], [], [], [], {}
    dim = None
    with h5py.File(tmp, "w", libver="latest") as f:
        emb = None
        rows = 0
        for c in clips:
            clip_id = f"{c['video_uid']}:{c['start_frame_idx']}"
            path = os.path.join(args.embeddings, file_name(args.name_template, c))
            if not os.path.exists(path):
                raise InputError(f"clip {clip_id}: embeddings file {path} is missing")
            a = load_rows(path, clip_id)
            n_frames = int(c["end_frame_idx"]) - int(c["start_frame_idx"]) + 1
            if a.shape[0] != n_frames:
                raise InputError(f"clip {clip_id}: {path}: expected {n_frames} rows (frames "
                                 f"{c['start_frame_idx']}..{c['end_frame_idx']}), found {a.shape[0]}")
            if emb is None:
                dim = a.shape[1]
                emb = f.create_dataset("embeddings", shape=(0, dim), maxshape=(None, dim),
                                       chunks=(CHUNK_ROWS, dim), dtype=dtype)
            elif a.shape[1] != dim:
                raise InputError(f"clip {clip_id}: {path}: expected embedding dim {dim} (as the first clip), "
                                 f"found {a.shape[1]}")
            emb.resize(rows + a.shape[0], axis=0)
            emb[rows:rows + a.shape[0]] = a.astype(dtype)
            rows += a.shape[0]
            offsets.append(rows)
            clip_texts.append(json.dumps(c, ensure_ascii=False))
            uid = str(c["video_uid"])
            if uid not in video_index:
                video_index[uid] = len(video_uids)
                video_uids.append(uid)
            clip_video.append(video_index[uid])
        checksummed(f, "clip_offsets", offsets, np.int64)
        checksummed(f, "clip_video", clip_video, np.int64)
        texts(f, "clip_json", "clip_json_offsets", clip_texts)
        texts(f, "video_uid_text", "video_uid_offsets", video_uids)
        f.attrs["format"] = fixed_string("prospect-store")
        f.attrs["version"] = np.int64(2)
        f.attrs["embedding_dim"] = np.int64(dim)
        f.attrs["fps"] = np.float64(fps)
        f.attrs["feature_model"] = fixed_string(args.feature_model)
    os.replace(tmp, args.out)
    print(f"convert: {args.out}: {len(clip_texts)} clips, {len(video_uids)} videos, {offsets[-1]} frames x {dim} ({args.dtype})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", required=True, help="clip JSON (array, one object or JSON Lines)")
    p.add_argument("--embeddings", required=True, help="folder with one pickle per clip")
    p.add_argument("--out", required=True, help="the store to write (.h5)")
    p.add_argument("--name-template", default="{video_uid}_{start_frame_idx}_embeddings.pkl",
                   help="a clip's pickle (default: %(default)s)")
    p.add_argument("--dtype", choices=["f16", "f32"], default="f16", help="on-disk type (default: %(default)s)")
    p.add_argument("--fps", type=float, default=0.0, help="frames per second (default: from the clips)")
    p.add_argument("--feature-model", default="", help="name recorded in the store")
    args = p.parse_args()
    try:
        convert(args)
    except (InputError, OSError, pickle.UnpicklingError) as e:
        if os.path.exists(args.out + ".tmp"):
            os.remove(args.out + ".tmp")
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
