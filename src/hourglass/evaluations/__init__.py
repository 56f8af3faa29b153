"""What a fitted ``Autoencoder`` is measured on, beyond reconstruction: denoising (``denoise``: PSNR against
classical filters) and latent maps (``maps``: how much of the data's neighborhoods a 2-D code keeps).
Anomaly detection, a model of its own, is ``hourglass.anomaly``.
"""
