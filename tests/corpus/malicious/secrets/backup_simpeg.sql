-- phpMyAdmin SQL Dump
-- version 5.2.1
-- Host: localhost
-- Generation Time: Jan 10, 2024 at 09:12 AM

CREATE TABLE `pegawai` (
  `id` int(11) NOT NULL,
  `nip` varchar(18) NOT NULL,
  `nama` varchar(100) NOT NULL,
  `nik` varchar(16) NOT NULL
);

INSERT INTO `pegawai` (`id`, `nip`, `nama`, `nik`) VALUES
(1, '198001012005011001', 'Budi Santoso', '1603010101800001');
