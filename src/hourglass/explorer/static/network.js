/* hourglass network evaluation: the layers explorer/weights.py writes, run on one row at a time in plain
   JavaScript as PyTorch computes them (in float64, from the float32 weights), so that the page's decodes, a
   drawing's code and its score are the model's own. No DOM: the explorer page inlines this file before
   explorer.js, and `hourglass verify` (export/browser.py) runs it alone in headless Chromium against PyTorch.
   Tensors are flat Float64Arrays; images are held channels-last (see STEPS.to_images). */
"use strict";

function b64Bytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Every browser's typed arrays are little-endian, as export.py writes them.
const b64Float32 = (text) => new Float32Array(b64Bytes(text).buffer);
const b64Float64 = (text) => new Float64Array(b64Bytes(text).buffer);
const b64Int32 = (text) => new Int32Array(b64Bytes(text).buffer);

// erf to ~1.2e-7 (Numerical Recipes' erfc by Chebyshev fit): exact GELU without a library.
function erf(x) {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

// Element-wise layers by the names export.py writes; each builds a function of one number.
const ACTIVATIONS = {
  identity: () => (x) => x,
  relu: () => (x) => (x > 0 ? x : 0),
  tanh: () => Math.tanh,
  sigmoid: () => (x) => 1 / (1 + Math.exp(-x)),
  silu: () => (x) => x / (1 + Math.exp(-x)),
  elu: (l) => (x) => (x > 0 ? x : l.alpha * Math.expm1(x)),
  leaky_relu: (l) => (x) => (x >= 0 ? x : l.slope * x),
  gelu: () => (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: () => (x) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))),
};

const sizeOf = (shape) => shape.reduce((a, b) => a * b, 1);

function expect(ok, layer, shape, what) {
  if (!ok) throw new Error(`layer ${layer.type} cannot take input of shape [${shape}]: ${what}`);
}

// A layer as a step on one sample: { shape: its output's shape, run }. `run(src, dst)` writes the output to dst;
// an `inPlace` step rewrites src; a step without `run` (flatten, unflatten) only reshapes.
const STEPS = {
  linear(l, shape) {
    expect(shape.length === 1 && shape[0] === l.in, l, shape, `needs ${l.in} features`);
    const n = l.in, m = l.out, w = b64Float32(l.weight), bias = b64Float32(l.bias);
    return {
      shape: [m],
      run(src, dst) {
        for (let j = 0; j < m; j++) {
          let acc = bias[j];
          const row = j * n;
          for (let i = 0; i < n; i++) acc += w[row + i] * src[i];
          dst[j] = acc;
        }
      },
    };
  },
  // An image of shape [C, H, W] is held channels-last, (H, W, C) in memory: the order rows already have (so to_images
  // and to_rows only rename the shape), and the one that lets a convolution's innermost loop run over contiguous
  // output channels. Only flatten and unflatten move values, to and from the (C, H, W) order of PyTorch's rows.
  to_images(l, shape) {
    const C = l.channels, H = l.height, W = l.width;
    expect(shape.length === 1 && shape[0] === C * H * W, l, shape, `needs ${C * H * W} values`);
    return { shape: [C, H, W] };
  },
  to_rows(l, shape) {
    expect(shape.length === 3, l, shape, "needs an image");
    return { shape: [sizeOf(shape)] };
  },
  flatten(l, shape) {
    if (shape.length !== 3) return { shape: [sizeOf(shape)] };
    const [C, H, W] = shape;
    return {
      shape: [C * H * W],
      run(src, dst) {
        for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) dst[c * H * W + p] = src[p * C + c];
      },
    };
  },
  unflatten(l, shape) {
    expect(shape.length === 1 && shape[0] === sizeOf(l.shape), l, shape, `needs ${sizeOf(l.shape)} values`);
    if (l.shape.length !== 3) return { shape: l.shape.slice() };
    const [C, H, W] = l.shape;
    return {
      shape: l.shape.slice(),
      run(src, dst) {
        for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) dst[p * C + c] = src[c * H * W + p];
      },
    };
  },
  conv2d(l, shape) {
    expect(shape.length === 3 && shape[0] === l.in, l, shape, `needs ${l.in} channels`);
    const [C, H, W] = shape, O = l.out, [kh, kw] = l.kernel, [sh, sw] = l.stride, [ph, pw] = l.padding;
    const OH = Math.floor((H + 2 * ph - kh) / sh) + 1, OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
    expect(OH > 0 && OW > 0, l, shape, "too small for the kernel");
    const w = kernelMajor(b64Float32(l.weight), O, C, kh * kw, false), bias = b64Float32(l.bias);
    return {
      shape: [O, OH, OW],
      run(src, dst) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            const out = (oy * OW + ox) * O;
            for (let o = 0; o < O; o++) dst[out + o] = bias[o];
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pw + kx;
                if (ix >= 0 && ix < W) tap(src, (iy * W + ix) * C, dst, out, w, (ky * kw + kx) * C * O, C, O);
              }
            }
          }
        }
      },
    };
  },
  conv_transpose2d(l, shape) {
    expect(shape.length === 3 && shape[0] === l.in, l, shape, `needs ${l.in} channels`);
    const [C, H, W] = shape, O = l.out, [kh, kw] = l.kernel, [sh, sw] = l.stride, [ph, pw] = l.padding;
    const OH = (H - 1) * sh - 2 * ph + kh + l.output_padding[0], OW = (W - 1) * sw - 2 * pw + kw + l.output_padding[1];
    expect(OH > 0 && OW > 0, l, shape, "gives an empty output");
    const w = kernelMajor(b64Float32(l.weight), O, C, kh * kw, true), bias = b64Float32(l.bias);
    return {
      shape: [O, OH, OW],
      // Scattered from each input pixel to the outputs its kernel covers.
      run(src, dst) {
        for (let p = 0; p < OH * OW; p++) for (let o = 0; o < O; o++) dst[p * O + o] = bias[o];
        for (let iy = 0; iy < H; iy++) {
          for (let ix = 0; ix < W; ix++) {
            for (let ky = 0; ky < kh; ky++) {
              const oy = iy * sh - ph + ky;
              if (oy < 0 || oy >= OH) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ox = ix * sw - pw + kx;
                if (ox < 0 || ox >= OW) continue;
                tap(src, (iy * W + ix) * C, dst, (oy * OW + ox) * O, w, (ky * kw + kx) * C * O, C, O);
              }
            }
          }
        }
      },
    };
  },
  // An ensemble's encoder: every member reads the same row; their codes follow one another.
  fan_out(l, shape) {
    expect(shape.length === 1, l, shape, "needs a row");
    const members = l.members.map((layers) => makeStack(layers, shape[0]));
    return {
      shape: [members.reduce((total, m) => total + m.outWidth, 0)],
      run(src, dst) {
        let at = 0;
        for (const m of members) { dst.set(m.forward(src), at); at += m.outWidth; }
      },
    };
  },
  // An ensemble's decoder: each member decodes its own slice of the code; the output is their mean. `each` gives
  // the members' outputs apart, as an ensemble's reconstruction error needs them.
  split_mean(l, shape) {
    const k = l.members.length, width = shape[0] / k;
    expect(shape.length === 1 && Number.isInteger(width), l, shape, `needs ${k} equal slices`);
    const members = l.members.map((layers) => makeStack(layers, width));
    const m = members[0].outWidth;
    const each = (src) => members.map((member, j) => member.run(src.subarray(j * width, (j + 1) * width)));
    return {
      shape: [m],
      each,
      run(src, dst) {
        dst.fill(0, 0, m);
        for (const out of each(src)) for (let i = 0; i < m; i++) dst[i] += out[i];
        for (let i = 0; i < m; i++) dst[i] /= k;
      },
    };
  },
};

// A conv weight reordered (kernel position, in channel, out channel), so that one tap of the kernel is a C x O block
// whose rows run over the output channels. PyTorch holds Conv2d's as (out, in, kh, kw), ConvTranspose2d's as
// (in, out, kh, kw).
function kernelMajor(weight, O, C, K, transposed) {
  const w = new Float64Array(K * C * O);
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      const from = (transposed ? c * O + o : o * C + c) * K;
      for (let k = 0; k < K; k++) w[(k * C + c) * O + o] = weight[from + k];
    }
  }
  return w;
}

// One kernel tap: the C channels of the input pixel at `at`, through the tap's C x O block of `w` (from `wAt`), added
// to the O channels of the output pixel at `out`. Inputs that are 0 (most, after a ReLU) are skipped whole.
function tap(src, at, dst, out, w, wAt, C, O) {
  for (let c = 0; c < C; c++) {
    const v = src[at + c];
    if (v === 0) continue;
    const row = wAt + c * O;
    for (let o = 0; o < O; o++) dst[out + o] += v * w[row + o];
  }
}

function buildStep(l, shape) {
  if (l.type in STEPS) return STEPS[l.type](l, shape);
  if (!(l.type in ACTIVATIONS)) throw new Error("unknown layer " + l.type);
  const f = ACTIVATIONS[l.type](l), width = sizeOf(shape);
  return {
    shape,
    inPlace: true,
    run(x) { for (let i = 0; i < width; i++) x[i] = f(x[i]); },
  };
}

// One stack of export.py's layers. forward(input) -> a view of the stack's own buffer (valid until the next call);
// run(input) -> a fresh copy. Two buffers, allocated once and swapped per layer, keep a hover or a brush stroke
// free of allocations but the result.
function makeStack(layers, inWidth) {
  let shape = [inWidth];
  const steps = [];
  for (const l of layers) {
    const step = buildStep(l, shape);
    shape = step.shape;
    if (step.run) steps.push(step);
  }
  const outWidth = sizeOf(shape);
  const widest = Math.max(inWidth, ...steps.map((s) => sizeOf(s.shape)));
  let a = new Float64Array(widest);
  let b = new Float64Array(widest);
  function forward(input) {
    for (let i = 0; i < inWidth; i++) a[i] = input[i];
    for (const s of steps) {
      if (s.inPlace) s.run(a);
      else { s.run(a, b); [a, b] = [b, a]; }
    }
    return a.subarray(0, outWidth);
  }
  return { steps, outWidth, forward, run: (input) => forward(input).slice() };
}

// decode(code) -> a row in original units; decodeScaled(code) -> the network's own output (scaled units);
// membersScaled(code) -> each ensemble member's output (one, the decode, for any other model).
function makeDecoder(spec) {
  const stack = makeStack(spec.layers, spec.latent_dim);
  const offset = b64Float32(spec.offset);
  const scale = b64Float32(spec.scale);
  // In place: the decoder's scaled output back in the data's units, as Scaler.inverse_transform does.
  function unscale(out) {
    for (let i = 0; i < out.length; i++) out[i] = out[i] * scale[i] + offset[i];
    return out;
  }
  const decodeScaled = stack.run;
  const ensemble = stack.steps.length === 1 && stack.steps[0].each ? stack.steps[0] : null;
  const membersScaled = (code) => (ensemble ? ensemble.each(Float64Array.from(code)) : [decodeScaled(code)]);
  const decode = (code) => unscale(decodeScaled(code));
  return { latentDim: spec.latent_dim, nFeatures: spec.n_features, decode, decodeScaled, membersScaled, unscale };
}

// scale(row) -> the network's input, as Scaler.transform makes it; encode(row) -> the code. Both as PyTorch
// computes them, so a drawing lands where `transform` would put it.
function makeEncoder(spec) {
  const stack = makeStack(spec.layers, spec.n_features);
  const offset = b64Float32(spec.offset), scale = b64Float32(spec.scale);
  // Models saved before inputs were clipped, and detectors, have no window; theirs pass unclipped, as in Python.
  const low = spec.low ? b64Float32(spec.low) : null, high = spec.high ? b64Float32(spec.high) : null;
  function scaleRow(row) {
    const x = new Float64Array(spec.n_features);
    for (let i = 0; i < x.length; i++) {
      x[i] = (row[i] - offset[i]) / scale[i];
      if (low) x[i] = Math.min(Math.max(x[i], low[i]), high[i]);
    }
    return x;
  }
  // The mean squared distance the clip removed (Scaler.clipped_away): score_samples adds it to the error, so rows
  // beyond the window keep their order instead of tying at its edge.
  function clippedAway(row) {
    if (!low) return 0;
    let total = 0;
    for (let i = 0; i < spec.n_features; i++) {
      const x = (row[i] - offset[i]) / scale[i];
      total += (x - Math.min(Math.max(x, low[i]), high[i])) ** 2;
    }
    return total / spec.n_features;
  }
  // A VAE's encoder gives means then log-variances: its code is the means, the leading latent_dim outputs.
  const encodeScaled = (x) => stack.forward(x).slice(0, spec.latent_dim);
  return { latentDim: spec.latent_dim, nFeatures: spec.n_features, scale: scaleRow, encodeScaled, clippedAway,
    encode: (row) => encodeScaled(scaleRow(row)) };
}

// Mean squared difference: the reconstruction error of a row, as score_samples measures it (scaled units).
function meanSquare(a, b) {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i] - b[i]) ** 2;
  return total / a.length;
}

// The isolation forest (anomaly/iforest.py): score(row) -> -IsolationForest.score_samples of a row in the data's
// units. A row goes left when x <= threshold, compared as the float32 it is in Python; trees are added in order.
function makeForest(spec) {
  const left = b64Int32(spec.left), right = b64Int32(spec.right), feature = b64Int32(spec.feature);
  const threshold = b64Float64(spec.threshold), value = b64Float64(spec.value);
  return function score(row) {
    if (spec.norm === 0) return 1;  // one training row: every path is 0 long, and scikit-learn scores 1
    let total = 0;
    for (let t = 0, base = 0; t < spec.trees; t++, base += spec.nodes) {
      let node = base;
      while (left[node] >= 0) {
        node = base + (Math.fround(row[feature[node]]) <= threshold[node] ? left[node] : right[node]);
      }
      total += value[node];
    }
    return 2 ** -(total / spec.norm);
  };
}

// The nearest-neighbour term (anomaly/knn.py): distance(row) -> the mean Euclidean distance from a row in the
// data's units to its k nearest reference rows, both in min-max units, in float64; every reference row is compared.
function makeNeighbors(spec) {
  const low = b64Float64(spec.low), span = b64Float64(spec.span), raw = b64Float32(spec.reference);
  const d = spec.columns, reference = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) reference[i] = (raw[i] - low[i % d]) / span[i % d];
  return function distance(row) {
    const x = new Float64Array(d);
    for (let j = 0; j < d; j++) x[j] = (Math.fround(row[j]) - low[j]) / span[j];
    const all = new Float64Array(spec.rows);
    for (let r = 0, base = 0; r < spec.rows; r++, base += d) {
      let total = 0;
      for (let j = 0; j < d; j++) total += (x[j] - reference[base + j]) ** 2;
      all[r] = Math.sqrt(total);
    }
    all.sort();
    let sum = 0;
    for (let i = 0; i < spec.k; i++) sum += all[i];
    return sum / spec.k;
  };
}

// inspect(row) -> { code, reconstruction (original units), score }: the score in the map's units, -score_samples.
// An autoencoder's is its reconstruction error; an ensemble's error is the mean of its members' own errors, and a
// detector (`detector`, from export.py's export_detector) adds its other terms (forest, distance) as weighted
// robust z-scores.
function makeScorer(encoder, decoder, detector) {
  const forest = detector && detector.forest ? makeForest(detector.forest) : null;
  const neighbors = detector && detector.knn ? makeNeighbors(detector.knn) : null;
  const fusion = detector ? detector.fusion : null;
  return function inspect(row) {
    const x = encoder.scale(row), code = encoder.encodeScaled(x), outs = decoder.membersScaled(code);
    const rebuilt = new Float64Array(x.length);
    let error = 0;
    for (const out of outs) {
      error += meanSquare(out, x);
      for (let i = 0; i < rebuilt.length; i++) rebuilt[i] += out[i];
    }
    for (let i = 0; i < rebuilt.length; i++) rebuilt[i] /= outs.length;
    error = error / outs.length + encoder.clippedAway(row);
    // The terms in the detector's order (error, forest, distance), each a robust z-score times its weight.
    const terms = [error, ...(forest ? [forest(row)] : []), ...(neighbors ? [neighbors(row)] : [])];
    let score = error;
    if (fusion) {
      score = 0;
      terms.forEach((t, j) => { score += (t - fusion.median[j]) / fusion.scale[j] * detector.weight[j]; });
    }
    return { code, score, reconstruction: decoder.unscale(rebuilt) };
  };
}

if (typeof module === "object" && module && module.exports) {
  module.exports = { makeDecoder, makeEncoder, makeScorer, makeForest, makeNeighbors, meanSquare, b64Float32, erf };
}
