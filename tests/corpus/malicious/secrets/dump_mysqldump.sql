-- MySQL dump 10.13  Distrib 8.0.35, for Linux (x86_64)
--
-- Host: localhost    Database: sipd
-- ------------------------------------------------------
DROP TABLE IF EXISTS `users`;
CREATE TABLE `users` (`id` int, `email` varchar(100), `password` varchar(255));
INSERT INTO `users` VALUES (1,'admin@opd.go.id','$2y$10$abcdefghijklmnopqrstuv');
