"""The ImageNet loader against torchvision's, in the same run, alternating (issue 13).

Both read the same JPEG ImageFolder with the same transforms and worker count and report
images/s for a full pass:
  - training: RandomResizedCrop(224) + horizontal flip + normalisation;
  - evaluation: Resize(256) + CenterCrop(224) + normalisation.
torchvision: `ImageFolder` + `DataLoader(num_workers=W, batch_size=64, shuffle=True)` on PIL.
Ours: `bench_loader` (experiments/src/bin/bench_loader.rs), W loader threads, the run's order.

    python3 benches/peer/loader_bench.py make DIR [PHOTOS...] [--per-class 64]
    python3 benches/peer/loader_bench.py run DIR BENCH_LOADER [--reps 3] [--workers 1 2] \
        [--also 'NAME|BENCH_LOADER|ARGS' ...] [--dali]

`make` re-encodes photographs at ImageNet's typical sizes (500x375, 375x500, 500x333, 400x300 and
crops; quality 90): scikit-image's sample photographs when no PHOTOS are given (from an installed
skimage, or a wheel named by SKIMAGE_WHEEL). 8 classes, `--per-class` training images each (64)
and half as many validation images.

`--also` adds a variant of ours to the same alternation: a name, a bench_loader binary and its
extra arguments, e.g. 'reference resampling|target/debug/bench_loader|--resample reference'.
Each row reports images/s and images/s per worker (per core: the workers are the cores used).
`--dali` adds NVIDIA DALI's CPU pipeline as a second peer (pip install nvidia-dali-cuda120: it
runs without a GPU with device_id=None).
"""
import glob, io, json, os, subprocess, sys, time, zipfile

PHOTO_NAMES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
               "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png"]


def sample_photos():
    from PIL import Image
    wheel = os.environ.get("SKIMAGE_WHEEL")
    if wheel:
        z = zipfile.ZipFile(wheel)
        return [Image.open(io.BytesIO(z.read("skimage/data/" + n))).convert("RGB") for n in PHOTO_NAMES]
    import skimage.data
    folder = os.path.dirname(skimage.data.__file__)
    return [Image.open(os.path.join(folder, n)).convert("RGB") for n in PHOTO_NAMES]


def make(out, paths, per_class=64):
    from PIL import Image
    photos = [Image.open(p).convert("RGB") for p in paths] if paths else sample_photos()
    sizes = [(500, 375), (375, 500), (500, 333), (400, 300), (500, 400), (333, 500)]
    k = 0
    for split, per in [("train", per_class), ("val", per_class // 2)]:
        for c in range(8):
            d = os.path.join(out, split, f"n{c:08d}")
            os.makedirs(d, exist_ok=True)
            for i in range(per):
                im = photos[(k * 7 + c) % len(photos)]
                w, h = im.size
                # a different crop of the photograph each time, then ImageNet's typical size
                f = 0.6 + 0.4 * ((k * 37) % 11) / 10
                cw, ch = int(w * f), int(h * f)
                x0, y0 = (k * 53) % (w - cw + 1), (k * 29) % (h - ch + 1)
                size = sizes[k % len(sizes)]
                im.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.BICUBIC).save(
                    os.path.join(d, f"img_{k:05d}.JPEG"), quality=90)
                k += 1
    print(f"{k} JPEGs in {out}")


def torch_pass(root, transform, workers, batch=64):
    import torch
    from torchvision import datasets, transforms as T
    torch.set_num_threads(1)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if transform == "train":
        tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        split = "train"
    else:
        tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
        split = "val"
    ds = datasets.ImageFolder(os.path.join(root, split), tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=transform == "train",
                                     num_workers=workers)
    t0, n = time.perf_counter(), 0
    for x, y in dl:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def dali_pass(root, transform, workers, batch=64):
    """NVIDIA DALI's CPU pipeline (libjpeg-turbo, its own resampling), `workers` threads. The
    training crop is decoded region-of-interest (`decoders.image_random_crop`), as DALI
    recommends. Timed from the built pipeline's first batch."""
    from nvidia.dali import pipeline_def, fn, types
    mean = [0.485 * 255, 0.456 * 255, 0.406 * 255]
    std = [0.229 * 255, 0.224 * 255, 0.225 * 255]
    train = transform == "train"

    @pipeline_def(batch_size=batch, num_threads=workers, device_id=None)
    def pipe():
        split = os.path.join(root, "train" if train else "val")
        jpegs, labels = fn.readers.file(file_root=split, random_shuffle=train, name="files")
        if train:
            images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB,
                                                   random_area=[0.08, 1.0],
                                                   random_aspect_ratio=[3 / 4, 4 / 3])
            images = fn.resize(images, resize_x=224, resize_y=224, antialias=True)
            mirror = fn.random.coin_flip()
        else:
            images = fn.decoders.image(jpegs, device="cpu", output_type=types.RGB)
            images = fn.resize(images, resize_shorter=256, antialias=True)
            mirror = 0
        images = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="CHW",
                                          crop=(224, 224), mean=mean, std=std, mirror=mirror)
        return images, labels

    p = pipe()
    p.build()
    total, n = p.epoch_size("files"), 0
    t0 = time.perf_counter()
    while n < total:
        n += len(p.run()[0])
    return total / (time.perf_counter() - t0)


def ours_pass(bench, root, transform, workers, extra=()):
    out = subprocess.run([bench, "--data", root, "--transform", transform, "--workers", str(workers),
                          *extra], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_s"]


def run(root, sides, reps, worker_counts):
    """sides: [(name, f(transform, workers) -> images/s)], the first torchvision's."""
    rows = {}
    for rep in range(reps):
        for w in worker_counts:
            for transform in ["train", "eval"]:
                # alternate the order of the sides, round by round
                order = sides if rep % 2 == 0 else sides[::-1]
                for name, f in order:
                    rows.setdefault((transform, w, name), []).append(f(transform, w))
    print("| transform | workers | loader | images/s | per core | / torchvision |")
    print("|---|---|---|---|---|---|")
    med = lambda v: sorted(v)[reps // 2]
    for transform in ["train", "eval"]:
        for w in worker_counts:
            t = med(rows[(transform, w, sides[0][0])])
            for name, _ in sides:
                v = med(rows[(transform, w, name)])
                print(f"| {transform} | {w} | {name} | {v:.0f} | {v / w:.0f} | {v / t:.2f} |")
    print(f"(medians of {reps} passes each, alternating)")


def option(args, flag, default):
    return args[args.index(flag) + 1] if flag in args else default


def main():
    if sys.argv[1] == "make":
        args = sys.argv[3:]
        per = int(option(args, "--per-class", "64"))
        photos = [a for i, a in enumerate(args) if a != "--per-class" and (i == 0 or args[i - 1] != "--per-class")]
        make(sys.argv[2], photos, per)
        return
    root, bench, args = sys.argv[2], sys.argv[3], sys.argv[4:]
    reps = int(option(args, "--reps", "3"))
    workers = [1, 2]
    if "--workers" in args:
        i = args.index("--workers") + 1
        workers = []
        while i < len(args) and args[i].isdigit():
            workers.append(int(args[i]))
            i += 1
    sides = [("torchvision", lambda t, w: torch_pass(root, t, w)),
             ("ours", lambda t, w: ours_pass(bench, root, t, w))]
    for i, a in enumerate(args):
        if a == "--also":
            name, binary, extra = args[i + 1].split("|")
            sides.append((name, lambda t, w, b=binary, e=extra.split(): ours_pass(b, root, t, w, e)))
    if "--dali" in args:
        sides.insert(1, ("DALI (CPU)", lambda t, w: dali_pass(root, t, w)))
    run(root, sides, reps, workers)


main()
